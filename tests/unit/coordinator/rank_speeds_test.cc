// --rank-weights auto: measured speeds to weights, rounded to eighths of the fastest.
#include "coordinator/rank_speeds.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringmaster::coordinator {
namespace {

using Weights = std::vector<double>;

TEST(WeightsFromSpeeds, AreEighthsOfTheFastest) {
  EXPECT_EQ(weights_from_speeds(Weights{3000, 1500, 750}), (Weights{1, 0.5, 0.25}));
  EXPECT_EQ(weights_from_speeds(Weights{1000, 3000}), (Weights{0.375, 1}));  // 2.67 eighths
  EXPECT_EQ(weights_from_speeds(Weights{42}), (Weights{1}));
}

// Timing noise between alike workers does not move the cut: within about 6% of the fastest a
// worker rounds to 1, and equal weights are exactly the unweighted plan.
TEST(WeightsFromSpeeds, AlikeWorkersGetEqualWeights) {
  EXPECT_EQ(weights_from_speeds(Weights{1000, 1030, 975}), (Weights{1, 1, 1}));
  EXPECT_EQ(weights_from_speeds(Weights{100, 94}), (Weights{1, 1}));      // 7.52 eighths
  EXPECT_EQ(weights_from_speeds(Weights{100, 93}), (Weights{1, 0.875}));  // 7.44 eighths
}

// A worker far slower than the rest still gets a shard: at least one eighth.
TEST(WeightsFromSpeeds, NoWeightBelowOneEighth) {
  EXPECT_EQ(weights_from_speeds(Weights{1, 1000}), (Weights{0.125, 1}));
}

// Moving toward equal weights (to keep the fastest rank within a memory cap): the fastest stays
// at 1, the others move step eighths of their distance to it, and step 8 is the equal split.
TEST(TowardEqual, MovesEighthsOfTheWayToTheFastest) {
  const Weights measured{1, 0.375, 0.125};
  EXPECT_EQ(toward_equal(measured, 0), measured);
  EXPECT_EQ(toward_equal(measured, 4), (Weights{1, 0.6875, 0.5625}));
  EXPECT_EQ(toward_equal(measured, kWeightSteps), (Weights{1, 1, 1}));
}

}  // namespace
}  // namespace ringmaster::coordinator
