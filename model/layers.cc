#include "model/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/gemm.h"
#include "model/internal/swiglu.h"

namespace ringmaster::model {

void linear(const float* x, int64_t n, const Tensor& w, float* y, bool accumulate) {
  const int64_t out = w.dim(0), in = w.dim(1);
  if (n == 0) return;
  CpuGemmParams p{.a = x,
                  .b = w.raw(),
                  .c = y,
                  .dtype = w.dtype(),
                  .m = n,
                  .n = out,
                  .k = in,
                  .lda = in,
                  .ldb = in,
                  .ldc = out,
                  .trans_b = true,
                  .beta = accumulate ? 1.0f : 0.0f};
  if (w.dtype() == DType::kBf16) {
    // The convert step: one tile's rows, reused across calls on this thread.
    thread_local std::vector<uint16_t> rows;
    rows.resize(static_cast<size_t>(n * in));
    round_to_bf16(x, rows.data(), n * in);
    p.a = rows.data();
  }
  cpu_gemm(p);
}

void rms_norm(const float* x, int64_t n, int64_t width, const float* g, float eps, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * width;
    double sum = 0;  // double: a million-wide row never loses the small terms
    for (int64_t c = 0; c < width; ++c) sum += double{row[c]} * row[c];
    const auto inv = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(width) + eps));
    float* out = y + i * width;
    for (int64_t c = 0; c < width; ++c) out[c] = row[c] * inv * g[c];
  }
}

void apply_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, std::span<const int64_t> pos,
                double theta) {
  const int64_t half = head_dim / 2;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; ++j) {
    freq[static_cast<size_t>(j)] =
        std::pow(theta, -2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
  }
  std::vector<float> cos_a(static_cast<size_t>(half)), sin_a(static_cast<size_t>(half));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(pos[static_cast<size_t>(i)]) * freq[j];
      cos_a[static_cast<size_t>(j)] = static_cast<float>(std::cos(angle));
      sin_a[static_cast<size_t>(j)] = static_cast<float>(std::sin(angle));
    }
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (i * heads + h) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j], b = v[j + half];
        v[j] = a * cos_a[j] - b * sin_a[j];
        v[j + half] = b * cos_a[j] + a * sin_a[j];
      }
    }
  }
}

namespace {

// One tile of the MLP: out (+)= w_down(silu(gate) * up), with [rows, hidden] scratch.
void mlp_tile(const float* x, int64_t rows, const MlpWeights& w, float* out, bool accumulate) {
  const int64_t hidden = w.w_gate.dim(0);
  std::vector<float> gate(static_cast<size_t>(rows * hidden)), up(gate.size());
  linear(x, rows, w.w_gate, gate.data());
  linear(x, rows, w.w_up, up.data());
  swiglu_gate(gate.data(), up.data(), static_cast<int64_t>(gate.size()));
  linear(gate.data(), rows, w.w_down, out, accumulate);
}

}  // namespace

void mlp(const float* x, int64_t n, const MlpWeights& w, float* out, bool accumulate,
         ThreadPool& pool) {
  const int64_t d = w.w_gate.dim(1), tiles = (n + kTokenTile - 1) / kTokenTile;
  pool.parallel_for(tiles, [&](int64_t t, int) {
    const int64_t begin = t * kTokenTile, rows = std::min(kTokenTile, n - begin);
    mlp_tile(x + begin * d, rows, w, out + begin * d, accumulate);
  });
}

bool add_mlp_residual(float* x, int64_t n, const float* g, float eps, const MlpWeights& w,
                      ThreadPool& pool, const std::stop_token& stop) {
  const int64_t d = w.w_gate.dim(1), tiles = (n + kTokenTile - 1) / kTokenTile;
  return pool.parallel_for(
      tiles,
      [&](int64_t t, int) {
        const int64_t begin = t * kTokenTile, rows = std::min(kTokenTile, n - begin);
        std::vector<float> normed(static_cast<size_t>(rows * d));
        rms_norm(x + begin * d, rows, d, g, eps, normed.data());
        mlp_tile(normed.data(), rows, w, x + begin * d, /*accumulate=*/true);
      },
      stop);
}

}  // namespace ringmaster::model
