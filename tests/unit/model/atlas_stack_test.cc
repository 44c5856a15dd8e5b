// Models mixing atlas with attention, window and local blocks, run by P = 1..4 ranks over
// LocalComm with the contiguous and zigzag plans and several records, against the independent
// PyTorch model (tests/reference/model_ref.py): MODEL.md's whole-model tolerance, 1e-4. A
// striped plan is refused on every rank.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "comm/local_comm.h"
#include "model/init.h"
#include "model/model.h"
#include "tests/testing/close.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

using comm::PlanKind;

struct Case {
  const char* name;
  std::vector<BlockConfig> blocks;
  std::vector<int64_t> record_lengths;
  int64_t align;  // lcm of the local group and the atlas chunks
};

ModelConfig make_config(const Case& c, bool causal) {
  return testing::small_model_config(causal, c.blocks);
}

BlockConfig atlas(int64_t chunk, int64_t omega, int64_t hidden, int64_t degree) {
  return {.mixer = MixerKind::kAtlas,
          .chunk = chunk,
          .omega_window = omega,
          .memory_hidden = hidden,
          .feature_degree = degree};
}

const Case kCases[] = {
    {"mixed",
     {atlas(16, 24, 16, 1),
      {.mixer = MixerKind::kWindow, .window = 37},
      atlas(16, 8, 12, 2),
      {.mixer = MixerKind::kLocal, .group = 64},
      {.mixer = MixerKind::kAttention}},
     {300, 1, 517, 90},
     64},
    // Pieces of a few chunks, shorter than the Omega window tail they carry.
    {"small_chunks",
     {atlas(4, 40, 8, 1), {.mixer = MixerKind::kAttention}, atlas(4, 3, 8, 2)},
     {40, 75, 13},
     4},
};

class AtlasStack : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
};

TEST_P(AtlasStack, EveryPlanAndWorkerCountMatchesPyTorch) {
  const auto [index, causal] = GetParam();
  const Case& c = kCases[index];
  const std::string model_dir = dir_ + "/model", fasta = dir_ + "/in.fa";
  ASSERT_TRUE(init_model(make_config(c, causal), 7, model_dir).ok());
  const harness::Records records = harness::make_records(c.record_lengths, fasta);
  const auto want_embed = harness::run_reference(model_dir, fasta, "embed", dir_ + "/ref");
  std::vector<double> want_scores;
  if (causal) want_scores = harness::run_reference(model_dir, fasta, "score", dir_ + "/ref");

  double worst = 0;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag}) {
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const harness::Outputs got = harness::run_model(model_dir, records, kind, world, c.align);
      const testing::Closeness embed = testing::closeness(got.embeddings, want_embed);
      EXPECT_TRUE(testing::within(embed, 1e-4)) << "embeddings";
      worst = std::max(worst, embed.rel);
      if (causal) {
        const testing::Closeness score = testing::closeness(got.scores, want_scores);
        EXPECT_TRUE(testing::within(score, 1e-4)) << "scores";
        worst = std::max(worst, score.rel);
      }
    }
  }
  RecordProperty("max_relative_error", std::to_string(worst));
  std::printf("atlas stack %s %s: max relative error %.3g\n", c.name,
              causal ? "causal" : "bidirectional", worst);
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<int, bool>>& param) {
  return std::string(kCases[std::get<0>(param.param)].name) +
         (std::get<1>(param.param) ? "_causal" : "_bidirectional");
}

INSTANTIATE_TEST_SUITE_P(Models, AtlasStack,
                         ::testing::Combine(::testing::Values(0, 1), ::testing::Bool()), case_name);

TEST_F(AtlasStack, StripedPlanIsRefusedOnEveryRank) {
  const std::string model_dir = dir_ + "/model";
  ASSERT_TRUE(init_model(make_config(kCases[0], true), 7, model_dir).ok());
  const harness::Records records = harness::make_records({200, 50}, "");
  const comm::RecordLayout layout(records.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(PlanKind::kStriped, layout, 2, 64);
  ASSERT_TRUE(plan.ok());
  for (const Status& s : harness::forward_statuses(model_dir, records, *plan)) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
    EXPECT_NE(s.to_string().find("striped"), std::string::npos) << s.to_string();
  }
}

}  // namespace
}  // namespace ringmaster::model
