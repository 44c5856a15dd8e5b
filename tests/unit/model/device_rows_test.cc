// Rows on a device (Mixer::takes_device_rows, model/layer_backend.h) without a GPU: with the
// attention and layer backends on a stand-in device (tests/testing/fake_device.h), a model of all
// five mixers keeps the attention family's h, q, attention output and mixed rows on the device
// and gives the fit and atlas mixers host rows. Its outputs must equal the CPU's bit for bit
// (the same kernels run in the same order) for the ring (q on the device, K/V on the host),
// Ulysses and the hybrid (a host copy of q), on every plan the model allows; and the host never
// reads a device row (the fake device's pages are closed outside its backends' calls, so such a
// read would crash the test).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "model/init.h"
#include "tests/testing/fake_device.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

using attention::ContextParallel;
using attention::ContextParallelism;
using comm::PlanKind;

constexpr int64_t kGroup = 32;

ModelConfig all_five_mixers() {
  return testing::small_model_config(
      true, {{.mixer = MixerKind::kWindow, .window = 37},
             {.mixer = MixerKind::kAttention},
             {.mixer = MixerKind::kFit, .group = kGroup, .latents = 4, .global_layers = 1},
             {.mixer = MixerKind::kLocal, .group = kGroup},
             {.mixer = MixerKind::kAtlas,
              .chunk = 16,
              .omega_window = 5,
              .memory_hidden = 12,
              .feature_degree = 1}});
}

TEST(DeviceRows, AllFiveMixersMatchTheCpuBitForBit) {
  testing::TempDir temp;
  const std::string dir = temp.file("model");
  ASSERT_TRUE(init_model(all_five_mixers(), 11, dir).ok());
  const harness::Records records = harness::make_records({150, 63, 1, 96}, "");
  struct Run {
    PlanKind kind;
    int world;
    ContextParallelism how;
  };
  for (const Run& run :
       {Run{PlanKind::kContiguous, 1, ContextParallel::kRing},
        Run{PlanKind::kContiguous, 3, ContextParallel::kRing},
        Run{PlanKind::kZigzag, 2, ContextParallel::kRing},
        Run{PlanKind::kZigzag, 2, ContextParallel::kUlysses},
        Run{PlanKind::kContiguous, 4, ContextParallelism(ContextParallel::kHybrid, 2)}}) {
    SCOPED_TRACE(std::string(comm::plan_name(run.kind)) + " P=" + std::to_string(run.world) + " " +
                 run.how.to_string());
    const harness::Outputs want =
        harness::run_model(dir, records, run.kind, run.world, kGroup, DType::kF32, {}, run.how);
    const int64_t views = testing::fake_device_views();
    const harness::Outputs got =
        harness::run_model(dir, records, run.kind, run.world, kGroup, DType::kF32, {}, run.how,
                           testing::make_fake_device_backends);
    // Every attention-family block hands the fake backends device rows.
    EXPECT_GT(testing::fake_device_views(), views);
    ASSERT_EQ(got.hf.size(), want.hf.size());
    // Equal bits are no check when both are NaN (a row no rank wrote).
    EXPECT_TRUE(
        std::none_of(want.hf.begin(), want.hf.end(), [](float v) { return std::isnan(v); }));
    EXPECT_EQ(std::memcmp(got.hf.data(), want.hf.data(), want.hf.size() * sizeof(float)), 0);
  }
}

// The check above is only as good as the closed pages: a host read of a device tensor outside
// the backends' calls must crash.
TEST(DeviceRowsDeathTest, HostReadOfADeviceRowCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ThreadPool pool(1);
  const ShardBackends backends = testing::make_fake_device_backends(pool);
  auto rows = backends.layers->empty({4, 8}, DType::kF32);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->device(), testing::kFakeDevice);
  EXPECT_DEATH(
      {
        const volatile float read = rows->data<float>()[3];
        (void)read;
      },
      "");
}

}  // namespace
}  // namespace ringmaster::model
