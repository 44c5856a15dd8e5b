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

namespace {

// Rope's angle p f_j split as (p - p mod 256) f_j + (p mod 256) f_j: the low part's cos and sin
// come from a table built once per thread and shape, the high part's from one sincos call per
// 256 positions, and the angle-sum formulas join them in float64. One sincos per row and
// frequency was 2-3% of a demo job. Both are float64 to about 1e-16, so the cos and sin rounded
// to f32 agree with the direct ones but for rare last-bit ties, and depend only on the position
// (not on how a plan cut the shard).
constexpr int kRopeLowBits = 8;

struct RopeTable {
  double theta = 0;
  int64_t head_dim = 0;
  std::vector<double> freq;              // [half]
  std::vector<double> low_cos, low_sin;  // [256, half]
};

const RopeTable& rope_table(double theta, int64_t head_dim) {
  thread_local RopeTable t;
  if (t.theta == theta && t.head_dim == head_dim && !t.freq.empty()) return t;
  const int64_t half = head_dim / 2;
  t.theta = theta;
  t.head_dim = head_dim;
  t.freq.resize(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; ++j) {
    t.freq[static_cast<size_t>(j)] =
        std::pow(theta, -2.0 * static_cast<double>(j) / static_cast<double>(head_dim));
  }
  const auto entries = static_cast<size_t>((int64_t{1} << kRopeLowBits) * half);
  t.low_cos.resize(entries);
  t.low_sin.resize(entries);
  for (int64_t low = 0; low < (int64_t{1} << kRopeLowBits); ++low) {
    for (int64_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(low) * t.freq[static_cast<size_t>(j)];
      t.low_cos[static_cast<size_t>(low * half + j)] = std::cos(angle);
      t.low_sin[static_cast<size_t>(low * half + j)] = std::sin(angle);
    }
  }
  return t;
}

}  // namespace

void apply_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, std::span<const int64_t> pos,
                double theta) {
  const int64_t half = head_dim / 2;
  const RopeTable& table = rope_table(theta, head_dim);
  std::vector<double> high_cos(static_cast<size_t>(half)), high_sin(static_cast<size_t>(half));
  std::vector<float> cos_a(static_cast<size_t>(half)), sin_a(static_cast<size_t>(half));
  int64_t high = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = pos[static_cast<size_t>(i)];
    const int64_t low = p & ((int64_t{1} << kRopeLowBits) - 1);
    if (p - low != high) {
      high = p - low;
      for (int64_t j = 0; j < half; ++j) {
        const double angle = static_cast<double>(high) * table.freq[static_cast<size_t>(j)];
        high_cos[static_cast<size_t>(j)] = std::cos(angle);
        high_sin[static_cast<size_t>(j)] = std::sin(angle);
      }
    }
    const double* lc = table.low_cos.data() + low * half;
    const double* ls = table.low_sin.data() + low * half;
    for (int64_t j = 0; j < half; ++j) {
      const double hc = high_cos[static_cast<size_t>(j)], hs = high_sin[static_cast<size_t>(j)];
      cos_a[static_cast<size_t>(j)] = static_cast<float>(hc * lc[j] - hs * ls[j]);
      sin_a[static_cast<size_t>(j)] = static_cast<float>(hs * lc[j] + hc * ls[j]);
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
