// Rank weights (workers of different speeds, comm/partition.h) change only which rank computes
// which token: every mixer (attention, window, local, fit, atlas) over P = 2..4 ranks with
// unequal shards gives the equal-split output, every plan that the model allows (atlas: not
// striped), at MODEL.md's whole-model tolerance, 1e-4.
#include <gtest/gtest.h>

#include "model/init.h"
#include "tests/testing/close.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

using comm::PlanKind;

constexpr int64_t kAlign = 64;  // lcm of the local and fit groups and the atlas chunks

BlockConfig atlas(int64_t chunk, int64_t omega, int64_t hidden, int64_t degree) {
  return {.mixer = MixerKind::kAtlas,
          .chunk = chunk,
          .omega_window = omega,
          .memory_hidden = hidden,
          .feature_degree = degree};
}

struct Case {
  const char* name;
  std::vector<BlockConfig> blocks;
  std::vector<PlanKind> plans;
};

const Case kCases[] = {
    {"attention_window_local_fit",
     {{.mixer = MixerKind::kAttention},
      {.mixer = MixerKind::kWindow, .window = 37},
      {.mixer = MixerKind::kLocal, .group = 64},
      {.mixer = MixerKind::kFit, .group = 64, .latents = 4, .global_layers = 1}},
     {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}},
    {"atlas",
     {atlas(16, 24, 16, 1), {.mixer = MixerKind::kAttention}, atlas(16, 8, 12, 2)},
     {PlanKind::kContiguous, PlanKind::kZigzag}},
};

const std::vector<std::vector<double>> kWeights = {{1, 3}, {3, 1}, {2, 1, 1}, {1, 2, 3, 4}};

class WeightedStack : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
};

TEST_P(WeightedStack, UnequalShardsGiveTheEqualSplitOutput) {
  const auto [index, causal] = GetParam();
  const Case& c = kCases[index];
  const std::string model_dir = dir_ + "/model";
  const Status made = init_model(testing::small_model_config(causal, c.blocks), 11, model_dir);
  ASSERT_TRUE(made.ok()) << made.to_string();
  const harness::Records records = harness::make_records({700, 1, 300, 90}, "");
  for (PlanKind kind : c.plans) {
    for (const std::vector<double>& weights : kWeights) {
      const int world = static_cast<int>(weights.size());
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world) +
                   " weights " + std::to_string(weights[0]) + "," + std::to_string(weights[1]));
      // The cut really moves: some rank holds a different number of tokens than with equal
      // shards.
      const comm::RecordLayout layout(records.lengths);
      const auto plain = comm::PartitionPlan::make_for_records(kind, layout, world, kAlign);
      const auto cut = comm::PartitionPlan::make_for_records(kind, layout, world, kAlign, weights);
      ASSERT_TRUE(plain.ok() && cut.ok());
      bool moved = false;
      for (int r = 0; r < world; ++r) moved = moved || plain->num_local(r) != cut->num_local(r);
      EXPECT_TRUE(moved);
      const harness::Outputs equal = harness::run_model(model_dir, records, kind, world, kAlign);
      const harness::Outputs weighted =
          harness::run_model(model_dir, records, kind, world, kAlign, DType::kF32, weights);
      EXPECT_TRUE(testing::all_close(weighted.embeddings, equal.embeddings, 1e-4));
      if (causal) {
        EXPECT_TRUE(testing::all_close(weighted.scores, equal.scores, 1e-4));
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<int, bool>>& param) {
  return std::string(kCases[std::get<0>(param.param)].name) +
         (std::get<1>(param.param) ? "_causal" : "_bidirectional");
}

INSTANTIATE_TEST_SUITE_P(Mixers, WeightedStack,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Bool()), case_name);

}  // namespace
}  // namespace ringmaster::model
