// tests/testing/close.h: the one comparison of computed numbers with expected ones for the whole
// test suite. STYLE.md section 10: `diff = std::max(diff, |got - want|)` drops NaN, so an all-NaN
// output (or a row a harness pre-filled with NaN and never wrote) scored 0 and passed. Here any
// non-finite value in either input, and any size mismatch, is a failure that names the first bad
// index; otherwise the error is MODEL.md's relative error, max |got - want| / max |want|.
//
// Pure functions of their arguments: thread-safe. The spans are read during the call only.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <string>

#include "core/tensor.h"

namespace ringmaster::testing {

// How far `got` is from `want`, measured in double whatever the element types.
struct Closeness {
  double max_abs_diff = 0.0;  // max |got[i] - want[i]|
  double max_abs_want = 0.0;  // max |want[i]|, the scale
  // max_abs_diff / max(max_abs_want, min_scale) (max_abs_diff when that is 0); +inf when !ok(),
  // so a caller keeping the worst error over several comparisons sees the failure too.
  double rel = 0.0;
  bool same_size = true;  // got.size() == want.size()
  bool finite = true;     // no NaN or inf in either
  std::string where;  // the first problem: "got[12] = nan is not finite (want 0.5)"; "" when ok()

  bool ok() const { return same_size && finite; }
};

// Measures `got` against `want`. The overloads cover the suite's pairs: float output against a
// float run, float output against a float64 reference, and float64 against float64. `min_scale`
// floors the scale, for values (logs, momenta) whose relative error near 0 says nothing.
Closeness closeness(std::span<const float> got, std::span<const float> want,
                    double min_scale = 0.0);
Closeness closeness(std::span<const float> got, std::span<const double> want,
                    double min_scale = 0.0);
Closeness closeness(std::span<const double> got, std::span<const double> want,
                    double min_scale = 0.0);

// Success iff the sizes match, every value is finite and closeness().rel <= rel_tol; the failure
// message says which of those broke, where, and the numbers. Use as
// EXPECT_TRUE(all_close(got, want, 1e-4)).
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want,
                                     double rel_tol, double min_scale = 0.0);
::testing::AssertionResult all_close(std::span<const float> got, std::span<const double> want,
                                     double rel_tol, double min_scale = 0.0);
::testing::AssertionResult all_close(std::span<const double> got, std::span<const double> want,
                                     double rel_tol, double min_scale = 0.0);

// The same over two tensors: a different shape or dtype is a failure naming both.
// REQUIRES: host (CPU) tensors; f32 ones are compared, any other dtype fails.
::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double rel_tol);

// The verdict of all_close for an already measured Closeness (for callers that also keep the
// worst error).
::testing::AssertionResult within(const Closeness& c, double rel_tol);

}  // namespace ringmaster::testing
