// The gate of every gpu-labelled test: skip without a visible CUDA device, or fail instead when
// RINGMASTER_REQUIRE_GPU is set (tests/gpu/run.sh sets it, so a GPU machine never passes by
// skipping). Call from a fixture's SetUp, so a skip or failure stops the test body.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/cuda/cuda_status.h"

namespace ringmaster::testing {

inline void require_gpu() {
  if (cuda_device_available()) return;
  if (std::getenv("RINGMASTER_REQUIRE_GPU") != nullptr) {
    FAIL() << "RINGMASTER_REQUIRE_GPU is set but no CUDA device is visible";
  }
  GTEST_SKIP() << "no CUDA device";
}

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override { require_gpu(); }
};

}  // namespace ringmaster::testing
