// core/bf16_round-inl.h: f32 -> bf16 rounding of one SIMD vector, for Highway code in any room
// (core's round_to_bf16, the attention kernel's softmax writing bf16 probabilities).
//
//   bf16 = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16   nearest even, as f32_to_bf16 (dtype.h)
//   a NaN keeps its top bits plus the quiet bit, so it stays a NaN
// Highway's per-target header protocol: include it after <hwy/highway.h> in a file compiled
// through foreach_target.h; the guard below toggles once per target. Pure functions.
#if defined(RINGMASTER_CORE_BF16_ROUND_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef RINGMASTER_CORE_BF16_ROUND_INL_H_
#undef RINGMASTER_CORE_BF16_ROUND_INL_H_
#else
#define RINGMASTER_CORE_BF16_ROUND_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace ringmaster::HWY_NAMESPACE {

// Stores the lanes of `v` (f32, tag `df`) rounded to bf16 bits at dst[0 .. Lanes(df)).
template <class DF>
HWY_INLINE void StoreRoundedBf16(DF df, hwy::HWY_NAMESPACE::Vec<DF> v, uint16_t* dst) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::RebindToUnsigned<DF> du32;
  const hn::RebindToSigned<DF> di32;
  const hn::Rebind<uint16_t, DF> du16;
  const auto bits = hn::BitCast(du32, v);
  const auto top = hn::ShiftRight<16>(bits);
  const auto rounded = hn::ShiftRight<16>(
      hn::Add(bits, hn::Add(hn::Set(du32, 0x7fffu), hn::And(top, hn::Set(du32, 1u)))));
  const auto out = hn::IfThenElse(hn::RebindMask(du32, hn::IsNaN(v)),
                                  hn::Or(top, hn::Set(du32, 0x40u)), rounded);
  // The result fits 16 bits, so the saturating i32 -> u16 demotion is exact.
  hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di32, out)), du16, dst);
  (void)df;
}

}  // namespace ringmaster::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // RINGMASTER_CORE_BF16_ROUND_INL_H_
