// Highway compiles this file once per SIMD target (foreach_target.h re-includes it) and
// dispatches at run time. The include order is Highway's protocol: keep clang-format away.
// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "model/internal/swiglu.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "model/internal/swiglu.h"

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace ringmaster::model::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void swiglu_gate_simd(float* gate, const float* up, int64_t count) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  int64_t i = 0;
  for (; i + lanes <= count; i += lanes) {
    const auto z = hn::LoadU(d, gate + i);
    const auto silu = hn::Div(z, hn::Add(one, hn::Exp(d, hn::Neg(z))));
    hn::StoreU(hn::Mul(silu, hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < count; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace ringmaster::model::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ringmaster::model {

HWY_EXPORT(swiglu_gate_simd);

void swiglu_gate(float* gate, const float* up, int64_t count) {
  HWY_DYNAMIC_DISPATCH(swiglu_gate_simd)(gate, up, count);
}

}  // namespace ringmaster::model
#endif  // HWY_ONCE
