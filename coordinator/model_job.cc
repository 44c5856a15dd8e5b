#include "coordinator/model_job.h"

#include "io/input.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace ringmaster::coordinator {

StatusOr<ModelJobInputs> ModelJobInputs::prepare(pb::JobSpec& job) {
  const pb::ModelJob& m = job.model();
  const std::string config_path = m.model_dir() + "/config.json";
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, model::parse_config(config_path));
  RM_ASSIGN_OR_RETURN(model::WeightFile weights,
                      model::WeightFile::open(m.model_dir() + "/weights.safetensors"));
  RM_RETURN_IF_ERROR(weights.check_against(config));
  // The cheap refusals first, before a long input is read.
  RM_RETURN_IF_ERROR(check_model_allows(config, config_path, job));
  RM_ASSIGN_OR_RETURN(io::TokenStream stream,
                      io::read_input(m.input_path(), config.vocab, m.max_tokens()));
  RM_ASSIGN_OR_RETURN(JobPlan plan, plan_model_job(config, config_path, stream, job));
  return ModelJobInputs(std::move(stream), std::move(plan));
}

void ModelJobInputs::fill_assignment(int rank, pb::Assignment& assignment) const {
  const std::span<const int32_t> ids = stream_.ids();
  const int32_t bos = io::bos_id(stream_.vocab());
  std::string* bytes = assignment.mutable_input_ids();
  bytes->clear();
  bytes->reserve(static_cast<size_t>(plan_.plan.num_local(rank)));
  assignment.clear_next_after_range();
  for (const comm::TokenRange& range : plan_.plan.ranges_of(rank)) {
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
