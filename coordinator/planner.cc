#include "coordinator/planner.h"

#include <numeric>

#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {

pb::ContextParallel to_pb_context_parallel(attention::ContextParallel how) {
  switch (how) {
    case attention::ContextParallel::kUlysses:
      return pb::CONTEXT_PARALLEL_ULYSSES;
    case attention::ContextParallel::kHybrid:
      return pb::CONTEXT_PARALLEL_HYBRID;
    case attention::ContextParallel::kRing:
      break;
  }
  return pb::CONTEXT_PARALLEL_RING;
}

Status check_model_allows(const model::ModelConfig& config, const std::string& config_path,
                          const pb::JobSpec& job) {
  const pb::ModelJob& m = job.model();
  if (config.blocks.empty()) return invalid_argument(config_path + ": the model has no blocks");
  const bool causal_task =
      m.task() == pb::TASK_SCORE || m.task() == pb::TASK_GENERATE || m.task() == pb::TASK_VARIANTS;
  const char* task_name = m.task() == pb::TASK_SCORE      ? "score"
                          : m.task() == pb::TASK_GENERATE ? "generate"
                                                          : "variants";
  if (causal_task && !config.causal) {
    return invalid_argument(config_path + ": the " + task_name +
                            " task needs a causal model; this one is bidirectional "
                            "(\"causal\": false)");
  }
  if (m.task() == pb::TASK_VARIANTS && config.vocab != io::Vocab::kDna) {
    return invalid_argument(config_path +
                            ": the variants task needs a dna model (it scores bases against a "
                            "FASTA reference); this one reads bytes (\"vocab\": \"bytes\")");
  }
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    const model::MixerKind kind = config.blocks[i].mixer;
    const std::string where = config_path + ": blocks[" + std::to_string(i) + "]";
    if (kind == model::MixerKind::kAtlas && job.plan() == pb::PLAN_STRIPED) {
      return invalid_argument(where +
                              " is atlas, whose memory runs left to right through each record; "
                              "the striped plan cannot carry it (use contiguous or zigzag)");
    }
    if (kind == model::MixerKind::kAttention &&
        job.context_parallel() == pb::CONTEXT_PARALLEL_ULYSSES &&
        config.n_heads % job.world() != 0) {
      return invalid_argument(where + ": ulysses splits the " + std::to_string(config.n_heads) +
                              " heads over the workers; " + std::to_string(job.world()) +
                              " workers do not divide them (use --context-parallel ring)");
    }
    if (kind == model::MixerKind::kAttention &&
        job.context_parallel() == pb::CONTEXT_PARALLEL_HYBRID && job.ulysses_degree() > 0 &&
        config.n_heads % job.ulysses_degree() != 0) {
      return invalid_argument("--ulysses-degree " + std::to_string(job.ulysses_degree()) +
                              " does not divide the model's " + std::to_string(config.n_heads) +
                              " heads (" + where + " is attention)");
    }
  }
  return ok_status();
}

StatusOr<int64_t> model_plan_align(const model::ModelConfig& config, int64_t requested) {
  int64_t align = requested;
  for (const model::BlockConfig& b : config.blocks) {
    int64_t unit = 1;
    if (b.mixer == model::MixerKind::kLocal || b.mixer == model::MixerKind::kFit) unit = b.group;
    if (b.mixer == model::MixerKind::kAtlas) unit = b.chunk;
    align = std::lcm(align, unit);
    if (align > (int64_t{1} << 20)) {
      return invalid_argument("the model's group and chunk sizes need shards aligned to " +
                              std::to_string(align) + " tokens, more than 2^20");
    }
  }
  return align;
}

StatusOr<JobPlan> plan_model_job(const model::ModelConfig& config, const std::string& config_path,
                                 const io::TokenStream& stream, pb::JobSpec& job) {
  RM_RETURN_IF_ERROR(check_model_allows(config, config_path, job));
  pb::ModelJob& m = *job.mutable_model();
  m.clear_record_lengths();
  for (const io::RecordSpan record : stream.records()) m.add_record_lengths(record.length + 1);
  m.set_d_model(config.d_model);
  m.set_num_blocks(static_cast<int32_t>(config.blocks.size()));
  RM_ASSIGN_OR_RETURN(const int64_t align, model_plan_align(config, job.plan_align()));
  job.set_plan_align(align);
  RM_RETURN_IF_ERROR(proto::validate_job_spec(job).with_context(m.input_path()));
  RM_ASSIGN_OR_RETURN(comm::PartitionPlan plan, proto::to_partition_plan(job));
  // The estimate assumes balanced ranks; give it the busiest rank's share times the world.
  RM_ASSIGN_OR_RETURN(model::MemoryEstimate memory,
                      model::memory_estimate(config, plan.max_local() * job.world(), job.world()));
  return JobPlan{std::move(plan), memory};
}

StatusOr<JobPlan> plan_check_job(const pb::JobSpec& job) {
  RM_ASSIGN_OR_RETURN(comm::PartitionPlan plan, proto::to_partition_plan(job));
  return JobPlan{std::move(plan), {}};
}

}  // namespace ringmaster::coordinator
