// core/cancel.h in the block stack: a stop requested while the model runs ends Model::forward at
// its next check with kCancelled, before the next block; a token never stopped changes nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <stop_token>
#include <vector>

#include "comm/local_comm.h"
#include "model/init.h"
#include "model/model.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::model {
namespace {

constexpr int64_t kTokens = 4000;
constexpr int32_t kBos = 5;

class ModelCancel : public ::testing::Test {
 protected:
  void SetUp() override {
    // Window, local and global attention, and the MLP of every block.
    const ModelConfig config =
        testing::small_model_config(true, {{.mixer = MixerKind::kWindow, .window = 64},
                                           {.mixer = MixerKind::kLocal, .group = 32},
                                           {.mixer = MixerKind::kAttention},
                                           {.mixer = MixerKind::kWindow, .window = 16}});
    ASSERT_TRUE(init_model(config, 3, temp_.file("model")).ok());
    std::mt19937 rng(4);
    ids_.push_back(kBos);
    for (int64_t i = 1; i < kTokens; ++i) ids_.push_back(static_cast<int32_t>(rng() % 4));
  }

  // Model::forward on one rank, its compute and data plane stopping on `stop`; `progress` is
  // told each block as it ends.
  StatusOr<Tensor> forward(std::stop_token stop, const ProgressFn& progress) {
    auto model = Model::load(temp_.file("model"));
    if (!model.ok()) return model.status();
    auto comms = comm::LocalComm::make_local_group(1, std::chrono::milliseconds(10000));
    const comm::RecordLayout layout({kTokens});
    auto plan = comm::PartitionPlan::make_for_records(comm::PlanKind::kContiguous, layout, 1, 1);
    if (!plan.ok()) return plan.status();
    ThreadPool pool(2);
    const ShardContext ctx = make_shard_context(
        *comms[0], *plan, layout, pool, attention::ContextParallel::kRing, {}, std::move(stop));
    return model->forward(ctx, ids_, progress);
  }

  testing::TempDir temp_;
  std::vector<int32_t> ids_;
};

TEST_F(ModelCancel, StopDuringABlockEndsTheStackBeforeTheNext) {
  std::stop_source source;
  std::vector<int> blocks_done;
  const StatusOr<Tensor> hf = forward(source.get_token(), [&](int block, int) {
    blocks_done.push_back(block);
    source.request_stop();  // as an Abort arriving while block 0 finished
  });
  EXPECT_EQ(hf.status().code(), StatusCode::kCancelled) << hf.status().to_string();
  EXPECT_NE(hf.status().message().find("block 1"), std::string::npos) << hf.status().to_string();
  EXPECT_EQ(blocks_done, std::vector<int>{0});
}

TEST_F(ModelCancel, StoppedBeforehandRunsNoBlock) {
  std::stop_source source;
  source.request_stop();
  int blocks_done = 0;
  const StatusOr<Tensor> hf = forward(source.get_token(), [&](int, int) { ++blocks_done; });
  EXPECT_EQ(hf.status().code(), StatusCode::kCancelled) << hf.status().to_string();
  EXPECT_EQ(blocks_done, 0);
}

TEST_F(ModelCancel, TokenNeverStoppedGivesTheSameBits) {
  std::stop_source never;
  int blocks_done = 0;
  const StatusOr<Tensor> with = forward(never.get_token(), [&](int, int) { ++blocks_done; });
  const StatusOr<Tensor> without = forward({}, nullptr);
  ASSERT_TRUE(with.ok()) << with.status().to_string();
  ASSERT_TRUE(without.ok()) << without.status().to_string();
  EXPECT_EQ(blocks_done, 4);
  ASSERT_EQ(with->bytes(), without->bytes());
  EXPECT_EQ(std::memcmp(with->raw(), without->raw(), with->bytes()), 0);
}

}  // namespace
}  // namespace ringmaster::model
