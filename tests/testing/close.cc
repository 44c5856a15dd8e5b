#include "tests/testing/close.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace ringmaster::testing {
namespace {

template <typename G, typename W>
Closeness measure(std::span<const G> got, std::span<const W> want, double min_scale) {
  Closeness c;
  auto fail = [&c](const std::string& where) {
    c.rel = std::numeric_limits<double>::infinity();
    c.where = where;
    return c;
  };
  if (got.size() != want.size()) {
    c.same_size = false;
    return fail("size " + std::to_string(got.size()) + ", want " + std::to_string(want.size()));
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    // Checked before the maxima: std::max(m, NaN) keeps m, which is the bug this file exists for.
    if (!std::isfinite(g) || !std::isfinite(w)) {
      c.finite = false;
      std::ostringstream msg;
      if (!std::isfinite(g)) {
        msg << "got[" << i << "] = " << g << " is not finite (want " << w << ")";
      } else {
        msg << "want[" << i << "] = " << w << " is not finite (got " << g << ")";
      }
      return fail(msg.str());
    }
    c.max_abs_diff = std::max(c.max_abs_diff, std::fabs(g - w));
    c.max_abs_want = std::max(c.max_abs_want, std::fabs(w));
  }
  const double scale = std::max(c.max_abs_want, min_scale);
  c.rel = scale > 0.0 ? c.max_abs_diff / scale : c.max_abs_diff;
  return c;
}

}  // namespace

Closeness closeness(std::span<const float> got, std::span<const float> want, double min_scale) {
  return measure(got, want, min_scale);
}
Closeness closeness(std::span<const float> got, std::span<const double> want, double min_scale) {
  return measure(got, want, min_scale);
}
Closeness closeness(std::span<const double> got, std::span<const double> want, double min_scale) {
  return measure(got, want, min_scale);
}

::testing::AssertionResult within(const Closeness& c, double rel_tol) {
  if (!c.ok()) return ::testing::AssertionFailure() << c.where;
  if (!(c.rel <= rel_tol)) {
    return ::testing::AssertionFailure()
           << "relative error " << c.rel << " > " << rel_tol << " (max |got - want| "
           << c.max_abs_diff << ", max |want| " << c.max_abs_want << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want,
                                     double rel_tol, double min_scale) {
  return within(closeness(got, want, min_scale), rel_tol);
}
::testing::AssertionResult all_close(std::span<const float> got, std::span<const double> want,
                                     double rel_tol, double min_scale) {
  return within(closeness(got, want, min_scale), rel_tol);
}
::testing::AssertionResult all_close(std::span<const double> got, std::span<const double> want,
                                     double rel_tol, double min_scale) {
  return within(closeness(got, want, min_scale), rel_tol);
}

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double rel_tol) {
  if (got.shape() != want.shape() || got.dtype() != DType::kF32 || want.dtype() != DType::kF32) {
    return ::testing::AssertionFailure()
           << "got " << got.to_string() << ", want " << want.to_string()
           << " (want two f32 tensors of one shape)";
  }
  const auto n = static_cast<size_t>(got.numel());
  return all_close(std::span<const float>(got.data<float>(), n),
                   std::span<const float>(want.data<float>(), n), rel_tol);
}

}  // namespace ringmaster::testing
