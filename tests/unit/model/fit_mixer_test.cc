// The fit mixer (model/fit_mixer.h) in stacks with the attention, window and local mixers: every
// plan and P = 1..4 ranks over LocalComm against the independent PyTorch model at MODEL.md's
// whole-model tolerance (1e-4), causality of a causal model, and the error for a plan that
// cuts groups.
#include <gtest/gtest.h>

#include <cstdio>
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
using harness::Outputs;
using harness::Records;
using testing::small_model_config;

constexpr int64_t kGroup = 64;

BlockConfig fit_block(int64_t global_layers) {
  return {.mixer = MixerKind::kFit, .group = kGroup, .latents = 4, .global_layers = global_layers};
}

class FitTest : public ::testing::Test {
 protected:
  testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
};

class FitReference : public FitTest, public ::testing::WithParamInterface<bool> {};

TEST_P(FitReference, EveryPlanAndWorkerCountMatchesPyTorch) {
  const bool causal = GetParam();
  // Fit blocks first (the stream starts there), between and last, with 2, 0 and 1 global layers.
  const ModelConfig config =
      small_model_config(causal, {fit_block(2),
                                  {.mixer = MixerKind::kAttention},
                                  {.mixer = MixerKind::kLocal, .group = kGroup},
                                  fit_block(0),
                                  {.mixer = MixerKind::kWindow, .window = 37},
                                  fit_block(1)});
  const std::string model_dir = dir_ + "/model", fasta = dir_ + "/in.fa";
  ASSERT_TRUE(init_model(config, 7, model_dir).ok());
  // Records shorter than a group (2 and 41 tokens), exactly two groups (128) and ragged ones.
  const Records records = harness::make_records({300, 1, 517, 40, 127, 90}, fasta);

  const std::vector<double> want_embed =
      harness::run_reference(model_dir, fasta, "embed", dir_ + "/ref");
  std::vector<double> want_scores;
  if (causal) want_scores = harness::run_reference(model_dir, fasta, "score", dir_ + "/ref");

  double worst = 0;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const Outputs got = harness::run_model(model_dir, records, kind, world, kGroup);
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
  std::printf("fit %s: largest relative error %.3g\n", causal ? "causal" : "bidirectional", worst);
}

std::string mask_name(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "causal" : "bidirectional";
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, FitReference, ::testing::Bool(), mask_name);

// Changing token t never changes an output before t (nor another record's). No global attention
// block: later groups can only learn of t through the latents, so a change of the group after
// t's shows that WRITE's shift carries it, and an unchanged start of t's group that WRITE reads
// only the group before.
TEST_F(FitTest, CausalModelNeverLooksAhead) {
  const ModelConfig config = small_model_config(
      true, {{.mixer = MixerKind::kLocal, .group = kGroup}, fit_block(1), fit_block(2)});
  const std::string model_dir = dir_ + "/model";
  ASSERT_TRUE(init_model(config, 11, model_dir).ok());
  const Records base = harness::make_records({300, 200}, "");
  const int64_t d = config.d_model;

  for (int world : {1, 3}) {
    const Outputs want = harness::run_model(model_dir, base, PlanKind::kZigzag, world, kGroup);
    for (int64_t t : {1, 64, 100, 127, 250}) {
      SCOPED_TRACE("P=" + std::to_string(world) + " t=" + std::to_string(t));
      Records changed = base;
      changed.stream[static_cast<size_t>(t)] = (changed.stream[static_cast<size_t>(t)] + 1) % 5;
      const Outputs got = harness::run_model(model_dir, changed, PlanKind::kZigzag, world, kGroup);
      const int64_t record_end = base.lengths[0];
      for (int64_t row = 0; row < static_cast<int64_t>(want.hf.size()) / d; ++row) {
        const bool may_change = row >= t && row < record_end;
        if (may_change) continue;
        for (int64_t c = 0; c < d; ++c) {
          ASSERT_EQ(got.hf[static_cast<size_t>(row * d + c)],
                    want.hf[static_cast<size_t>(row * d + c)])
              << "row " << row;
        }
      }
      const int64_t next_group_row = (t / kGroup + 1) * kGroup + 5;
      if (next_group_row < record_end) {
        EXPECT_NE(got.hf[static_cast<size_t>(next_group_row * d)],
                  want.hf[static_cast<size_t>(next_group_row * d)]);
      }
    }
  }
}

// A plan not aligned to the group cuts a group between ranks: every rank reports it, none hangs.
TEST_F(FitTest, PlanThatCutsAGroupIsAnError) {
  const ModelConfig config = small_model_config(true, {fit_block(1)});
  const std::string model_dir = dir_ + "/model";
  ASSERT_TRUE(init_model(config, 3, model_dir).ok());
  const Records records = harness::make_records({300}, "");
  const comm::RecordLayout layout(records.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(PlanKind::kContiguous, layout, 2, 1);
  ASSERT_TRUE(plan.ok());
  for (const Status& s : harness::forward_statuses(model_dir, records, *plan)) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.to_string();
    EXPECT_NE(s.to_string().find("align"), std::string::npos) << s.to_string();
  }
}

}  // namespace
}  // namespace ringmaster::model
