// The planner: what a model allows of a job, the alignment of its cuts, and the completed spec
// the workers rebuild the same plan from.
#include "coordinator/planner.h"

#include <gtest/gtest.h>

#include <vector>

#include "proto/convert.h"
#include "proto/validate.h"
#include "tests/testing/job_specs.h"
#include "tests/testing/model_configs.h"

namespace ringmaster::coordinator {
namespace {

model::BlockConfig block(model::MixerKind kind) {
  model::BlockConfig b;
  b.mixer = kind;
  if (kind == model::MixerKind::kWindow) b.window = 8;
  if (kind == model::MixerKind::kLocal || kind == model::MixerKind::kFit) b.group = 12;
  if (kind == model::MixerKind::kFit) b.latents = 2;
  if (kind == model::MixerKind::kAtlas) {
    b.chunk = 8;
    b.omega_window = 4;
    b.memory_hidden = 8;
    b.feature_degree = 1;
  }
  return b;
}

model::ModelConfig config_of(std::vector<model::MixerKind> kinds) {
  std::vector<model::BlockConfig> blocks;
  for (model::MixerKind kind : kinds) blocks.push_back(block(kind));
  return ringmaster::testing::small_model_config(/*causal=*/true, blocks);
}

// A model job as job_spec_from_flags leaves it: valid as a request, not yet planned.
pb::JobSpec request(int world, pb::Plan plan) {
  pb::JobSpec job = ringmaster::testing::model_job_request(world, plan);
  EXPECT_TRUE(proto::validate_job_request(job).ok())
      << proto::validate_job_request(job).to_string();
  return job;
}

io::TokenStream records(std::vector<int> lengths) {
  io::TokenStream stream(io::Vocab::kDna);
  for (const int length : lengths) {
    std::vector<uint8_t> ids(static_cast<size_t>(length), 1);
    EXPECT_TRUE(stream.append("record", ids).ok());
  }
  return stream;
}

TEST(Planner, RefusesWhatTheModelCannotDo) {
  const std::string path = "m/config.json";
  Status s = check_model_allows(config_of({model::MixerKind::kAttention, model::MixerKind::kAtlas}),
                                path, request(2, pb::PLAN_STRIPED));
  EXPECT_NE(s.message().find("m/config.json: blocks[1] is atlas"), std::string::npos)
      << s.to_string();

  pb::JobSpec ulysses = request(3, pb::PLAN_ZIGZAG);
  ulysses.set_context_parallel(pb::CONTEXT_PARALLEL_ULYSSES);
  s = check_model_allows(config_of({model::MixerKind::kAttention}), path, ulysses);
  EXPECT_NE(s.message().find("3 workers do not divide them (use --context-parallel ring)"),
            std::string::npos)
      << s.to_string();
  ulysses.set_world(2);
  EXPECT_TRUE(check_model_allows(config_of({model::MixerKind::kAttention}), path, ulysses).ok());

  pb::JobSpec hybrid = request(6, pb::PLAN_ZIGZAG);
  hybrid.set_context_parallel(pb::CONTEXT_PARALLEL_HYBRID);
  hybrid.set_ulysses_degree(3);
  const model::ModelConfig attention = config_of({model::MixerKind::kAttention});
  s = check_model_allows(attention, path, hybrid);
  EXPECT_NE(s.message().find("--ulysses-degree 3 does not divide the model's " +
                             std::to_string(attention.n_heads) + " heads"),
            std::string::npos)
      << s.to_string();
  hybrid.set_ulysses_degree(2);
  EXPECT_TRUE(check_model_allows(attention, path, hybrid).ok());

  pb::JobSpec score = request(2, pb::PLAN_ZIGZAG);
  score.mutable_model()->set_task(pb::TASK_SCORE);
  model::ModelConfig bidirectional = config_of({model::MixerKind::kWindow});
  bidirectional.causal = false;
  s = check_model_allows(bidirectional, path, score);
  EXPECT_NE(s.message().find("needs a causal model"), std::string::npos) << s.to_string();
  EXPECT_FALSE(check_model_allows(config_of({}), path, score).ok());

  pb::JobSpec generate = request(2, pb::PLAN_ZIGZAG);
  generate.mutable_model()->set_task(pb::TASK_GENERATE);
  generate.mutable_model()->set_max_new_tokens(8);
  s = check_model_allows(bidirectional, path, generate);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(path + ": the generate task needs a causal model"), std::string::npos)
      << s.to_string();
  EXPECT_TRUE(check_model_allows(config_of({model::MixerKind::kWindow}), path, generate).ok());
}

TEST(Planner, AlignsToEveryGroupAndChunk) {
  const model::ModelConfig c =
      config_of({model::MixerKind::kLocal, model::MixerKind::kAtlas, model::MixerKind::kWindow});
  StatusOr<int64_t> align = model_plan_align(c, 1);
  ASSERT_TRUE(align.ok());
  EXPECT_EQ(*align, 24);  // lcm(12, 8)
  EXPECT_EQ(*model_plan_align(c, 5), 120);
  EXPECT_FALSE(model_plan_align(c, (1 << 20) - 1).ok());
}

// The completed spec passes validate_job_spec, and the plan a worker rebuilds from it is the
// planner's, cut only on group and chunk boundaries of each record.
TEST(Planner, CompletesTheSpecThatWorkersRebuildThePlanFrom) {
  const model::ModelConfig c = config_of({model::MixerKind::kFit, model::MixerKind::kAtlas});
  for (pb::Plan kind : {pb::PLAN_CONTIGUOUS, pb::PLAN_ZIGZAG}) {
    pb::JobSpec job = request(3, kind);
    const io::TokenStream stream = records({500, 37, 101});
    StatusOr<JobPlan> planned = plan_model_job(c, "m/config.json", stream, job);
    ASSERT_TRUE(planned.ok()) << planned.status().to_string();
    ASSERT_TRUE(proto::validate_job_spec(job).ok()) << proto::validate_job_spec(job).to_string();
    EXPECT_EQ(job.plan_align(), 24);
    EXPECT_EQ(job.model().d_model(), 32);
    EXPECT_EQ(job.model().num_blocks(), 2);
    ASSERT_EQ(job.model().record_lengths_size(), 3);
    EXPECT_EQ(job.model().record_lengths(1), 38);  // <bos> included
    StatusOr<comm::PartitionPlan> rebuilt = proto::to_partition_plan(job);
    ASSERT_TRUE(rebuilt.ok());
    const comm::RecordLayout layout = proto::to_record_layout(job);
    for (int r = 0; r < 3; ++r) {
      EXPECT_EQ(rebuilt->ranges_of(r).size(), planned->plan.ranges_of(r).size());
      for (const comm::TokenRange& range : planned->plan.ranges_of(r)) {
        const int64_t record_start = layout.start(layout.record_of(range.begin));
        EXPECT_EQ((range.begin - record_start) % 24, 0) << "rank " << r;
      }
    }
    EXPECT_GT(planned->busiest_rank.total_bytes, planned->busiest_rank.weight_bytes);
  }
}

}  // namespace
}  // namespace ringmaster::coordinator
