#include "attention/decode_kernel.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "attention/cpu/softmax_rows.h"
#include "core/cancel.h"

namespace ringmaster::attention {
namespace {

// Keys per task: 16K rows of a 2 x 32 KV head layout are 8 MiB of K and V, enough work to
// amortise a task, and 64 tasks at a million keys keep every thread busy. Fixed, so the merge
// order (and the result's bits) never depends on the pool.
constexpr int64_t kSplit = 16384;
// Keys per tile: the tile's K and V rows of every KV head (512 x n_kv_heads x head_dim floats)
// stay in L2 while each KV head's query rows go over them.
constexpr int64_t kTile = 512;

// One split's partial for every (query row, head): unnormalised accumulator, running max and sum.
struct Partial {
  std::vector<float> acc, m, l;  // [rows, head_dim], [rows], [rows]; rows = n_heads * q_len
};

struct Shapes {
  int64_t q_len, kv_len, heads, kv_heads, hd, group;  // group: query heads per KV head
};

// Row (g, j, qi) of the per-KV-head query block: query row qi, head g * group + j.
int64_t head_of(const Shapes& s, int64_t g, int64_t row) { return g * s.group + row % s.group; }
int64_t query_of(const Shapes& s, int64_t row) { return row / s.group; }

void run_split(const Shapes& s, const float* q_scaled, const float* k, const float* v,
               int64_t begin, int64_t end, Partial& part, std::vector<float>& scores,
               std::vector<float>& corr) {
  const int64_t rows = s.group * s.q_len, ld = s.kv_heads * s.hd;
  part.acc.assign(static_cast<size_t>(s.kv_heads * rows * s.hd), 0.0f);
  part.m.assign(static_cast<size_t>(s.kv_heads * rows), -INFINITY);
  part.l.assign(static_cast<size_t>(s.kv_heads * rows), 0.0f);
  for (int64_t t0 = begin; t0 < end; t0 += kTile) {
    const int64_t tk = std::min(kTile, end - t0);
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      const float* qg = q_scaled + g * rows * s.hd;
      float* acc = part.acc.data() + g * rows * s.hd;
      float* m = part.m.data() + g * rows;
      float* l = part.l.data() + g * rows;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                  static_cast<int>(tk), static_cast<int>(s.hd), 1.0f, qg, static_cast<int>(s.hd),
                  k + (t0 * s.kv_heads + g) * s.hd, static_cast<int>(ld), 0.0f, scores.data(),
                  static_cast<int>(tk));
      cpu::softmax_rows(scores.data(), rows, tk, tk, m, l, corr.data());
      for (int64_t r = 0; r < rows; ++r) {
        if (corr[static_cast<size_t>(r)] == 1.0f) continue;
        for (int64_t c = 0; c < s.hd; ++c) acc[r * s.hd + c] *= corr[static_cast<size_t>(r)];
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows),
                  static_cast<int>(s.hd), static_cast<int>(tk), 1.0f, scores.data(),
                  static_cast<int>(tk), v + (t0 * s.kv_heads + g) * s.hd, static_cast<int>(ld),
                  1.0f, acc, static_cast<int>(s.hd));
    }
  }
}

}  // namespace

Status attend_visible(const Tensor& q, const Tensor& k, const Tensor& v, ThreadPool& pool,
                      BlockResult& result, const std::stop_token& stop) {
  if (q.rank() != 3 || k.rank() != 3 || v.shape() != k.shape() || q.dim(2) != k.dim(2) ||
      k.dim(1) == 0 || q.dim(1) % k.dim(1) != 0 || q.dtype() != DType::kF32 ||
      k.dtype() != DType::kF32 || v.dtype() != DType::kF32 || result.out.shape() != q.shape()) {
    return invalid_argument("attend_visible: q " + q.to_string() + ", k " + k.to_string() + ", v " +
                            v.to_string() + ", out " + result.out.to_string());
  }
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
  const Shapes s{q.dim(0), k.dim(0), q.dim(1), k.dim(1), q.dim(2), q.dim(1) / k.dim(1)};
  const int64_t rows = s.group * s.q_len;
  // Queries regrouped by KV head (rows g: every query row's heads of group g) and pre-scaled.
  std::vector<float> q_scaled(static_cast<size_t>(s.kv_heads * rows * s.hd));
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.hd));
  for (int64_t g = 0; g < s.kv_heads; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* src =
          q.const_data<float>() + (query_of(s, r) * s.heads + head_of(s, g, r)) * s.hd;
      float* dst = q_scaled.data() + (g * rows + r) * s.hd;
      for (int64_t c = 0; c < s.hd; ++c) dst[c] = src[c] * scale;
    }
  }
  const int64_t splits = (s.kv_len + kSplit - 1) / kSplit;
  std::vector<Partial> parts(static_cast<size_t>(splits));
  pool.parallel_for(splits, [&](int64_t i, int) {
    if (stop.stop_requested()) return;
    thread_local std::vector<float> scores, corr;
    scores.resize(static_cast<size_t>(rows * kTile));
    corr.resize(static_cast<size_t>(rows));
    run_split(s, q_scaled.data(), k.const_data<float>(), v.const_data<float>(), i * kSplit,
              std::min(s.kv_len, (i + 1) * kSplit), parts[static_cast<size_t>(i)], scores, corr);
  });
  RM_RETURN_IF_ERROR(check_cancelled(stop, "decode attention"));

  // Merge the splits in order, per (query row, head), then normalise.
  float* out = result.out.data<float>();
  float* lse = result.lse.data<float>();
  std::vector<float> acc(static_cast<size_t>(s.hd));
  for (int64_t g = 0; g < s.kv_heads; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      float m = -INFINITY, l = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (const Partial& p : parts) {
        const auto at = static_cast<size_t>(g * rows + r);
        const float m_new = std::max(m, p.m[at]);
        if (m_new == -INFINITY) continue;
        const float a = std::exp(m - m_new), b = std::exp(p.m[at] - m_new);
        l = a * l + b * p.l[at];
        const float* pa = p.acc.data() + at * static_cast<size_t>(s.hd);
        for (int64_t c = 0; c < s.hd; ++c) acc[c] = a * acc[c] + b * pa[c];
        m = m_new;
      }
      const int64_t row = query_of(s, r) * s.heads + head_of(s, g, r);
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      for (int64_t c = 0; c < s.hd; ++c) out[row * s.hd + c] = acc[c] * inv;
      lse[row] = l > 0.0f ? m + std::log(l) : -INFINITY;
    }
  }
  return ok_status();
}

}  // namespace ringmaster::attention
