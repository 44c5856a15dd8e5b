// The block stack (attention, window and local mixers) run by P ranks over LocalComm, every
// plan, several records, against the independent PyTorch model (tests/reference/model_ref.py)
// reading the same model directory and FASTA file: MODEL.md's whole-model tolerance, 1e-4.
#include <gtest/gtest.h>

#include "model/init.h"
#include "tests/testing/close.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

using comm::PlanKind;
using harness::Outputs;
using harness::Records;
using testing::all_close;

class StackReference : public ::testing::TestWithParam<bool> {
 protected:
  testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
};

TEST_P(StackReference, EveryPlanAndWorkerCountMatchesPyTorch) {
  const bool causal = GetParam();
  const ModelConfig config =
      testing::small_model_config(causal, {{.mixer = MixerKind::kAttention},
                                           {.mixer = MixerKind::kWindow, .window = 37},
                                           {.mixer = MixerKind::kLocal, .group = 64}});
  const std::string model_dir = dir_ + "/model", fasta = dir_ + "/in.fa";
  ASSERT_TRUE(init_model(config, 5, model_dir).ok());
  const Records records = harness::make_records({300, 1, 517, 90}, fasta);

  const std::vector<double> want_embed =
      harness::run_reference(model_dir, fasta, "embed", dir_ + "/ref");
  std::vector<double> want_scores;
  if (causal) want_scores = harness::run_reference(model_dir, fasta, "score", dir_ + "/ref");

  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const Outputs got = harness::run_model(model_dir, records, kind, world, /*align=*/64);
      EXPECT_TRUE(all_close(got.embeddings, want_embed, 1e-4));
      if (causal) {
        EXPECT_TRUE(all_close(got.scores, want_scores, 1e-4));
      }
    }
  }
}

std::string mask_name(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "causal" : "bidirectional";
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, StackReference, ::testing::Bool(), mask_name);

}  // namespace
}  // namespace ringmaster::model
