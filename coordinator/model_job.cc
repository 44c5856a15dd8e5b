#include "coordinator/model_job.h"

#include <numeric>

#include "io/input.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {
namespace {

// What the model's blocks require of the job, checked before any worker starts.
Status check_model_fits_job(const model::ModelConfig& config, const std::string& config_path,
                            const pb::JobSpec& job) {
  const pb::ModelJob& m = job.model();
  if (m.task() == pb::TASK_SCORE && !config.causal) {
    return invalid_argument(config_path +
                            ": the score task needs a causal model; this one is bidirectional "
                            "(\"causal\": false)");
  }
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    const model::MixerKind kind = config.blocks[i].mixer;
    const std::string where = config_path + ": blocks[" + std::to_string(i) + "]";
    if (kind == model::MixerKind::kAtlas && job.plan() == pb::PLAN_STRIPED) {
      return invalid_argument(where +
                              " is atlas, whose memory runs left to right through each record; "
                              "the striped plan cannot carry it (use contiguous or zigzag)");
    }
    if (kind == model::MixerKind::kAttention && m.mixer() == pb::MIXER_ULYSSES &&
        config.n_heads % job.world() != 0) {
      return invalid_argument(where + ": ulysses splits the " + std::to_string(config.n_heads) +
                              " heads over the workers; " + std::to_string(job.world()) +
                              " workers do not divide them (use --mixer ring)");
    }
  }
  return ok_status();
}

// lcm of --plan-align and the groups and chunks that must not straddle ranks.
StatusOr<int64_t> plan_align(const model::ModelConfig& config, int64_t requested) {
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

}  // namespace

StatusOr<ModelJobInputs> ModelJobInputs::prepare(const std::string& input_path, pb::JobSpec& job) {
  pb::ModelJob& m = *job.mutable_model();
  const std::string config_path = m.model_dir() + "/config.json";
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, model::parse_config(config_path));
  RM_ASSIGN_OR_RETURN(model::WeightFile weights,
                      model::WeightFile::open(m.model_dir() + "/weights.safetensors"));
  RM_RETURN_IF_ERROR(weights.check_against(config));
  if (config.blocks.empty()) return invalid_argument(config_path + ": the model has no blocks");
  RM_RETURN_IF_ERROR(check_model_fits_job(config, config_path, job));

  RM_ASSIGN_OR_RETURN(io::TokenStream stream, io::read_input(input_path, config.vocab));
  m.clear_record_lengths();
  for (const io::RecordSpan& record : stream.records()) m.add_record_lengths(record.length + 1);
  m.set_d_model(config.d_model);
  m.set_num_blocks(static_cast<int32_t>(config.blocks.size()));
  RM_ASSIGN_OR_RETURN(int64_t align, plan_align(config, job.plan_align()));
  job.set_plan_align(align);
  RM_RETURN_IF_ERROR(proto::validate_job_spec(job).with_context(input_path));
  RM_ASSIGN_OR_RETURN(comm::PartitionPlan plan, proto::to_partition_plan(job));
  return ModelJobInputs(std::move(stream), std::move(plan));
}

void ModelJobInputs::fill_assignment(int rank, pb::Assignment& assignment) const {
  const std::span<const int32_t> ids = stream_.ids();
  const int32_t bos = io::bos_id(stream_.vocab());
  std::string* bytes = assignment.mutable_input_ids();
  bytes->clear();
  bytes->reserve(static_cast<size_t>(plan_.num_local(rank)));
  assignment.clear_next_after_range();
  for (const comm::TokenRange& range : plan_.ranges_of(rank)) {
    for (int64_t s = range.begin; s < range.end; ++s) {
      const int32_t id = ids[static_cast<size_t>(s)];
      // Input ids are < 256 in both vocabularies; <bos> is the only larger id fed.
      bytes->push_back(static_cast<char>(id == bos ? 0 : id));
    }
    const int64_t after = range.end;
    const bool same_record =
        after < stream_.num_tokens() && stream_.record_at(after) == stream_.record_at(after - 1);
    assignment.add_next_after_range(same_record ? ids[static_cast<size_t>(after)] : -1);
  }
}

}  // namespace ringmaster::coordinator
