// tests/unit/model/rope_test.cc: apply_rope (model/layers.h) against MODEL.md's rope computed
// directly in float64, at positions up to past a million in zigzag order (the table path splits
// each position into a high and a low part, so both parts and their carries are exercised).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/layers.h"

namespace ringmaster::model {
namespace {

TEST(Rope, MatchesFloat64DefinitionAtLargeAndZigzagPositions) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  const std::vector<int64_t> pos = {0,       1,       255, 256,     257,           65535, 65536,
                                    1000003, 7,       999, 1 << 20, 12345,         3,     511,
                                    512,     1048575, 300, 299,     (1 << 30) + 77};
  const auto n = static_cast<int64_t>(pos.size());
  for (const double theta : {10000.0, 500000.0}) {
    for (const int64_t head_dim : {64, 128, 6}) {
      SCOPED_TRACE(testing::Message() << "theta " << theta << " head_dim " << head_dim);
      const int64_t heads = 3, half = head_dim / 2;
      std::vector<float> x(static_cast<size_t>(n * heads * head_dim));
      for (float& v : x) v = value(rng);
      std::vector<float> got = x;
      apply_rope(got.data(), n, heads, head_dim, pos, theta);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t h = 0; h < heads; ++h) {
          const float* in = x.data() + (i * heads + h) * head_dim;
          const float* out = got.data() + (i * heads + h) * head_dim;
          for (int64_t j = 0; j < half; ++j) {
            const double f = std::pow(theta, -2.0 * static_cast<double>(j) / head_dim);
            const double a = static_cast<double>(pos[static_cast<size_t>(i)]) * f;
            const double c = std::cos(a), s = std::sin(a);
            const double want_lo = in[j] * c - in[j + half] * s;
            const double want_hi = in[j + half] * c + in[j] * s;
            // f32 cos/sin and f32 arithmetic: a few ulps of |x|, far below a wrong angle's error
            // (a position off by one moves the top frequency by a radian).
            const double tol = 4e-7 * (std::fabs(in[j]) + std::fabs(in[j + half]));
            ASSERT_NEAR(out[j], want_lo, tol) << "position " << pos[i] << " j " << j;
            ASSERT_NEAR(out[j + half], want_hi, tol) << "position " << pos[i] << " j " << j;
          }
        }
      }
    }
  }
}

// The same position gives the same bits whatever rows surround it: a plan's cut cannot change
// a token's rotation.
TEST(Rope, DependsOnlyOnThePosition) {
  const int64_t heads = 2, head_dim = 32;
  std::vector<float> row(static_cast<size_t>(heads * head_dim));
  for (size_t i = 0; i < row.size(); ++i) row[i] = 0.25f + 0.01f * static_cast<float>(i);
  const std::vector<int64_t> run = {1000, 1001, 1002, 1023, 1024, 1025};
  std::vector<float> together;
  for (size_t i = 0; i < run.size(); ++i) together.insert(together.end(), row.begin(), row.end());
  apply_rope(together.data(), static_cast<int64_t>(run.size()), heads, head_dim, run, 10000.0);
  for (size_t i = 0; i < run.size(); ++i) {
    std::vector<float> alone = row;
    apply_rope(alone.data(), 1, heads, head_dim, std::span(&run[i], 1), 10000.0);
    for (size_t c = 0; c < row.size(); ++c) {
      ASSERT_EQ(alone[c], together[i * row.size() + c]) << "position " << run[i];
    }
  }
}

}  // namespace
}  // namespace ringmaster::model
