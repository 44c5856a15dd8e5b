// round_to_bf16 (core/gemm.h): f32 -> bf16, nearest even, vectorised (core/bf16_round-inl.h).
// Highway compiles this file once per SIMD target (foreach_target.h re-includes it) and
// dispatches at run time. The include order is Highway's protocol: keep clang-format away.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/internal/bf16_round.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "core/bf16_round-inl.h"
// clang-format on

#include "core/gemm.h"

HWY_BEFORE_NAMESPACE();
namespace ringmaster::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void round_to_bf16_simd(const float* src, uint16_t* dst, int64_t count) {
  const hn::ScalableTag<float> df;
  const auto lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) StoreRoundedBf16(df, hn::LoadU(df, src + i), dst + i);
  for (; i < count; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace ringmaster::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ringmaster {

HWY_EXPORT(round_to_bf16_simd);

void round_to_bf16(const float* src, uint16_t* dst, int64_t count) {
  HWY_DYNAMIC_DISPATCH(round_to_bf16_simd)(src, dst, count);
}

}  // namespace ringmaster
#endif  // HWY_ONCE
