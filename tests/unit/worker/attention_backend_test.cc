// The worker's choice of attention backend (--device): names, the CPU default, and a clear
// refusal of cuda where there is no GPU (or no CUDA build); on a GPU machine, cuda works.
#include "worker/attention_backend.h"

#include <gtest/gtest.h>

namespace ringmaster::worker {
namespace {

TEST(AttentionBackendChoice, ParsesTheThreeNames) {
  for (const ComputeDevice d : {ComputeDevice::kCpu, ComputeDevice::kCuda, ComputeDevice::kAuto}) {
    auto parsed = parse_compute_device(compute_device_name(d));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, d);
  }
  const auto bad = parse_compute_device("gpu");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'gpu'"), std::string::npos);
}

TEST(AttentionBackendChoice, CpuIsTheCpuBackendAndKeepsDataOnTheHost) {
  ThreadPool pool(1);
  auto backend = make_attention_backend(ComputeDevice::kCpu, 0, pool);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ((*backend)->name(), "cpu");
  EXPECT_FALSE(check_data_on_device(**backend, comm::CommSpec{}, 1));
}

// Here (no GPU) cuda is refused with one clear error and auto falls back to the CPU; where a GPU
// is visible both give a CUDA backend.
TEST(AttentionBackendChoice, CudaWithoutAGpuIsRefusedAndAutoFallsBack) {
  ThreadPool pool(1);
  auto automatic = make_attention_backend(ComputeDevice::kAuto, 3, pool);
  ASSERT_TRUE(automatic.ok()) << automatic.status().to_string();
  auto cuda = make_attention_backend(ComputeDevice::kCuda, 3, pool);
  if ((*automatic)->name() == "cpu") {
    ASSERT_FALSE(cuda.ok());
    EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(cuda.status().message().find("--device cuda"), std::string::npos);
  } else {
    ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
    EXPECT_EQ((*cuda)->name().rfind("cuda:", 0), 0u);
    comm::CommSpec ucx, nccl;
    ucx.backend = comm::CommSpec::kUcx;
    nccl.backend = comm::CommSpec::kNccl;
    EXPECT_TRUE(check_data_on_device(**cuda, comm::CommSpec{}, 1));
    EXPECT_FALSE(check_data_on_device(**cuda, ucx, 2));
    EXPECT_TRUE(check_data_on_device(**cuda, nccl, 2));
  }
}

}  // namespace
}  // namespace ringmaster::worker
