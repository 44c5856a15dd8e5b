// round_to_bf16 (core/gemm.h): f32 -> bf16, nearest even: one instruction per 16 values where
// the CPU has AVX512-BF16 (internal/bf16_round_avx512.cc), else vectorised by Highway
// (the formula below).
// Highway compiles this file once per SIMD target (foreach_target.h re-includes it) and
// dispatches at run time. The include order is Highway's protocol: keep clang-format away.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/internal/bf16_round.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "core/internal/bf16_round.h"

#include "core/gemm.h"

HWY_BEFORE_NAMESPACE();
namespace ringmaster::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

//   bf16 = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16   nearest even, as f32_to_bf16 (dtype.h)
//   a NaN keeps its top bits plus the quiet bit, so it stays a NaN
void round_to_bf16_simd(const float* src, uint16_t* dst, int64_t count) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const auto lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    const auto v = hn::LoadU(df, src + i);
    const auto bits = hn::BitCast(du32, v);
    const auto top = hn::ShiftRight<16>(bits);
    const auto rounded = hn::ShiftRight<16>(
        hn::Add(bits, hn::Add(hn::Set(du32, 0x7fffu), hn::And(top, hn::Set(du32, 1u)))));
    const auto out = hn::IfThenElse(hn::RebindMask(du32, hn::IsNaN(v)),
                                    hn::Or(top, hn::Set(du32, 0x40u)), rounded);
    // The result fits 16 bits, so the saturating i32 -> u16 demotion is exact.
    hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di32, out)), du16, dst + i);
  }
  for (; i < count; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace ringmaster::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ringmaster {

HWY_EXPORT(round_to_bf16_simd);

void internal::round_to_bf16_portable(const float* src, uint16_t* dst, int64_t count) {
  HWY_DYNAMIC_DISPATCH(round_to_bf16_simd)(src, dst, count);
}

void round_to_bf16(const float* src, uint16_t* dst, int64_t count) {
  const int64_t done =
      internal::cpu_has_avx512_bf16() ? internal::round_to_bf16_avx512(src, dst, count) : 0;
  internal::round_to_bf16_portable(src + done, dst + done, count - done);
}

}  // namespace ringmaster
#endif  // HWY_ONCE
