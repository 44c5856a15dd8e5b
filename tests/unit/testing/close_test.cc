// all_close and closeness: every non-finite value and size mismatch fails, with the index named;
// otherwise the relative error is max |got - want| / max |want| against the tolerance.
#include "tests/testing/close.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ringmaster::testing {
namespace {

const std::vector<float> kWant = {1.0f, -2.0f, 4.0f, 0.5f};

std::string message(const ::testing::AssertionResult& r) { return r.message(); }

TEST(AllClose, EqualValuesPass) {
  EXPECT_TRUE(all_close(kWant, kWant, 0.0));
  const Closeness c = closeness(kWant, kWant);
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.rel, 0.0);
  EXPECT_EQ(c.max_abs_want, 4.0);
}

TEST(AllClose, ToleranceIsRelativeToTheLargestReferenceValue) {
  std::vector<float> got = kWant;
  got[3] += 0.00390625f;  // |diff| 2^-8 against max |want| 4: relative 2^-10, exact in float
  EXPECT_EQ(closeness(got, kWant).rel, 0.0009765625);
  EXPECT_TRUE(all_close(got, kWant, 0.0009765625));  // the bound itself passes
  const auto outside = all_close(got, kWant, 0.000976);
  EXPECT_FALSE(outside);
  EXPECT_NE(message(outside).find("relative error"), std::string::npos) << message(outside);
}

TEST(AllClose, NanInGotFailsAndNamesTheIndex) {
  std::vector<float> got = kWant;
  got[2] = std::numeric_limits<float>::quiet_NaN();
  const auto r = all_close(got, kWant, 1.0);
  EXPECT_FALSE(r);
  EXPECT_NE(message(r).find("got[2]"), std::string::npos) << message(r);
  const Closeness c = closeness(got, kWant);
  EXPECT_FALSE(c.finite);
  EXPECT_EQ(c.rel, std::numeric_limits<double>::infinity());
}

TEST(AllClose, AllNanOutputFails) {
  // The bug this helper replaces: std::max(diff, NaN) keeps diff, so all-NaN scored 0.
  const std::vector<float> got(kWant.size(), std::numeric_limits<float>::quiet_NaN());
  EXPECT_FALSE(all_close(got, kWant, 1e30));
}

TEST(AllClose, NanInWantFailsAndNamesTheIndex) {
  std::vector<double> want(kWant.begin(), kWant.end());
  want[1] = std::nan("");
  const auto r = all_close(kWant, want, 1.0);
  EXPECT_FALSE(r);
  EXPECT_NE(message(r).find("want[1]"), std::string::npos) << message(r);
}

TEST(AllClose, InfinityFailsEvenWhenBothSidesAgree) {
  std::vector<double> got(kWant.begin(), kWant.end()), want = got;
  got[0] = want[0] = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(all_close(got, want, 1.0));
  got[0] = -std::numeric_limits<double>::infinity();
  want[0] = 1.0;
  EXPECT_FALSE(all_close(got, want, 1.0));
}

TEST(AllClose, SizeMismatchFails) {
  const std::vector<float> shorter(kWant.begin(), kWant.end() - 1);
  const auto r = all_close(shorter, kWant, 1.0);
  EXPECT_FALSE(r);
  EXPECT_NE(message(r).find("size 3, want 4"), std::string::npos) << message(r);
  EXPECT_FALSE(closeness(shorter, kWant).same_size);
  EXPECT_FALSE(all_close(std::vector<float>{}, kWant, 1.0));
}

TEST(AllClose, AllZeroReferenceComparesAbsoluteDifference) {
  const std::vector<float> zeros(3, 0.0f), small = {0.0f, 1e-7f, 0.0f};
  EXPECT_TRUE(all_close(zeros, zeros, 0.0));
  EXPECT_TRUE(all_close(small, zeros, 1e-6));
  EXPECT_FALSE(all_close(small, zeros, 1e-8));
}

TEST(AllClose, MinScaleFloorsTheScale) {
  const std::vector<double> want = {0.01, -0.02}, got = {0.01, -0.0201};
  EXPECT_NEAR(closeness(got, want).rel, 5e-3, 1e-12);                  // 1e-4 / 0.02
  EXPECT_NEAR(closeness(got, want, 1.0).rel, 1e-4, 1e-12);             // 1e-4 / 1
  EXPECT_NEAR(closeness(want, got, 0.001).rel, 1e-4 / 0.0201, 1e-12);  // floor below max |want|
  EXPECT_TRUE(all_close(got, want, 1.001e-4, 1.0));
  EXPECT_FALSE(all_close(got, want, 1.001e-4));
}

TEST(AllClose, TensorsMustShareShapeAndDtype) {
  Tensor a = Tensor::empty({2, 2}, DType::kF32), b = Tensor::empty({4}, DType::kF32);
  for (int i = 0; i < 4; ++i) a.data<float>()[i] = b.data<float>()[i] = static_cast<float>(i);
  EXPECT_FALSE(all_close(a, b, 1.0));
  Tensor c = Tensor::empty({2, 2}, DType::kF32);
  std::copy_n(a.data<float>(), 4, c.data<float>());
  EXPECT_TRUE(all_close(a, c, 0.0));
  c.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(all_close(c, a, 1.0));
}

TEST(AllClose, EmptySpansAreClose) {
  EXPECT_TRUE(all_close(std::vector<float>{}, std::vector<float>{}, 0.0));
}

}  // namespace
}  // namespace ringmaster::testing
