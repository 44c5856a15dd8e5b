// Highway compiles this file once per SIMD target (foreach_target.h re-includes it) and
// dispatches at run time, so one binary uses AVX-512 where the CPU has it and SSE4 elsewhere.
// The include order is Highway's protocol, not style: keep clang-format away from it.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/cpu/softmax_rows.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "attention/cpu/softmax_rows.h"

#include <cmath>

#include "core/gemm.h"

HWY_BEFORE_NAMESPACE();
namespace ringmaster::attention::cpu::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void softmax_rows_simd(float* scores, int64_t rows, int64_t cols, int64_t ld, float* m, float* l,
                       float* corr, uint16_t* probs) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t vec_cols = cols / lanes * lanes;
  for (int64_t r = 0; r < rows; ++r) {
    float* s = scores + r * ld;

    auto vmax = hn::Set(d, -INFINITY);
    for (int64_t c = 0; c < vec_cols; c += lanes) vmax = hn::Max(vmax, hn::LoadU(d, s + c));
    float row_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (int64_t c = vec_cols; c < cols; ++c) row_max = std::fmax(row_max, s[c]);

    const float m_new = std::fmax(m[r], row_max);
    const float m_safe = m_new == -INFINITY ? 0.0f : m_new;
    const auto vshift = hn::Set(d, m_safe);
    auto vsum = hn::Zero(d);
    for (int64_t c = 0; c < vec_cols; c += lanes) {
      const auto p = hn::Exp(d, hn::Sub(hn::LoadU(d, s + c), vshift));
      hn::StoreU(p, d, s + c);
      vsum = hn::Add(vsum, p);
    }
    float sum = hn::GetLane(hn::SumOfLanes(d, vsum));
    for (int64_t c = vec_cols; c < cols; ++c) {
      s[c] = std::exp(s[c] - m_safe);
      sum += s[c];
    }
    // The row is still in L1: rounding it here takes the one-instruction conversion where the
    // CPU has AVX512-BF16, which Highway 1.0 code cannot emit in the loop above.
    if (probs != nullptr) round_to_bf16(s, probs + r * ld, cols);
    corr[r] = std::exp(m[r] - m_safe);
    l[r] = corr[r] * l[r] + sum;
    m[r] = m_new;
  }
}

}  // namespace ringmaster::attention::cpu::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ringmaster::attention::cpu {

HWY_EXPORT(softmax_rows_simd);

void softmax_rows(float* scores, int64_t rows, int64_t cols, int64_t ld, float* m, float* l,
                  float* corr, uint16_t* probs) {
  HWY_DYNAMIC_DISPATCH(softmax_rows_simd)(scores, rows, cols, ld, m, l, corr, probs);
}

}  // namespace ringmaster::attention::cpu
#endif  // HWY_ONCE
