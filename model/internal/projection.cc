#include "model/internal/projection.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "core/gemm.h"
#include "model/layers.h"

namespace ringmaster::model {
namespace {

// body(begin, rows) for every tile of [0, n).
template <typename Body>
void for_each_tile(ThreadPool& pool, int64_t n, const Body& body,
                   const std::stop_token& stop = {}) {
  const int64_t tiles = (n + kTokenTile - 1) / kTokenTile;
  pool.parallel_for(
      tiles,
      [&](int64_t t, int) {
        const int64_t begin = t * kTokenTile;
        body(begin, std::min(kTokenTile, n - begin));
      },
      stop);
}

}  // namespace

void rms_norm_rows(ThreadPool& pool, const float* x, int64_t n, int64_t width, const float* g,
                   float eps, float* y) {
  for_each_tile(pool, n, [&](int64_t begin, int64_t rows) {
    rms_norm(x + begin * width, rows, width, g, eps, y + begin * width);
  });
}

Tensor project_heads(ThreadPool& pool, const float* x, int64_t n, const Tensor& w, int64_t heads,
                     int64_t head_dim, std::span<const int64_t> rope_pos, double rope_theta,
                     const std::stop_token& stop) {
  Tensor out = Tensor::empty({n, heads, head_dim}, DType::kF32);
  project_heads_into(pool, x, n, w, heads, head_dim, rope_pos, rope_theta, out.data<float>(),
                     DType::kF32, stop);
  return out;
}

void project_heads_into(ThreadPool& pool, const float* x, int64_t n, const Tensor& w, int64_t heads,
                        int64_t head_dim, std::span<const int64_t> rope_pos, double rope_theta,
                        void* out, DType out_dtype, const std::stop_token& stop) {
  RM_CHECK(out_dtype == DType::kF32 || out_dtype == DType::kBf16)
      << "project_heads_into " << dtype_name(out_dtype);
  const int64_t d = w.dim(1), width = heads * head_dim;
  for_each_tile(
      pool, n,
      [&](int64_t begin, int64_t rows) {
        thread_local std::vector<float> tile;
        float* y = static_cast<float*>(out) + begin * width;
        if (out_dtype == DType::kBf16) {
          tile.resize(static_cast<size_t>(rows * width));
          y = tile.data();
        }
        linear(x + begin * d, rows, w, y);
        if (!rope_pos.empty()) {
          apply_rope(y, rows, heads, head_dim,
                     rope_pos.subspan(static_cast<size_t>(begin), static_cast<size_t>(rows)),
                     rope_theta);
        }
        if (out_dtype == DType::kBf16) {
          round_to_bf16(y, static_cast<uint16_t*>(out) + begin * width, rows * width);
        }
      },
      stop);
}

void project_out(ThreadPool& pool, const Tensor& o, const Tensor& wo, float* out, bool accumulate) {
  const int64_t width = o.dim(1) * o.dim(2), d = wo.dim(0);
  for_each_tile(pool, o.dim(0), [&](int64_t begin, int64_t rows) {
    linear(o.data<float>() + begin * width, rows, wo, out + begin * d, accumulate);
  });
}

}  // namespace ringmaster::model
