// worker/calibration.h on the CPU: a speed is measured, two threads push more rows than one is
// not asserted (the machines are shared), and a stop request ends the measurement.
#include "worker/calibration.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ringmaster::worker {
namespace {

TEST(MeasureSpeed, GivesRowsPerSecondOnTheCpu) {
  CalibrationSpec spec;
  spec.d_model = 64;
  spec.mlp_hidden = 256;
  for (const DType compute : {DType::kF32, DType::kBf16}) {
    spec.compute = compute;
    StatusOr<double> speed = measure_speed(spec, {});
    ASSERT_TRUE(speed.ok()) << speed.status().to_string();
    EXPECT_TRUE(std::isfinite(*speed));
    EXPECT_GT(*speed, 0);
  }
}

// A huge model is timed on a capped MLP, so the measurement neither allocates its weights nor
// takes longer than a small one.
TEST(MeasureSpeed, CapsTheWidths) {
  CalibrationSpec spec;
  spec.d_model = 1 << 16;
  spec.mlp_hidden = 1 << 20;
  StatusOr<double> speed = measure_speed(spec, {});
  ASSERT_TRUE(speed.ok()) << speed.status().to_string();
  EXPECT_GT(*speed, 0);
}

TEST(MeasureSpeed, StopsWhenAsked) {
  std::stop_source stop;
  stop.request_stop();
  CalibrationSpec spec;
  spec.d_model = 64;
  spec.mlp_hidden = 256;
  StatusOr<double> speed = measure_speed(spec, stop.get_token());
  EXPECT_EQ(speed.status().code(), StatusCode::kCancelled) << speed.status().to_string();
}

// Without CUDA in the build (or a GPU on the host), asking for one fails plainly.
TEST(MeasureSpeed, RefusesAMissingGpu) {
  CalibrationSpec spec;
  spec.d_model = 64;
  spec.mlp_hidden = 256;
  spec.device = ComputeDevice::kCuda;
  StatusOr<double> speed = measure_speed(spec, {});
  if (speed.ok()) GTEST_SKIP() << "this host has a GPU";
  EXPECT_EQ(speed.status().code(), StatusCode::kFailedPrecondition) << speed.status().to_string();
}

}  // namespace
}  // namespace ringmaster::worker
