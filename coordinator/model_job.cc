#include "coordinator/model_job.h"

#include <algorithm>

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
  if (m.task() == pb::TASK_VARIANTS) {
    io::TokenStream stream(config.vocab);
    RM_ASSIGN_OR_RETURN(std::shared_ptr<const VariantJob> variants,
                        prepare_variant_job(job, &stream));
    if (stream.num_records() == 0) {
      return ModelJobInputs(std::move(config), std::move(stream), std::nullopt, variants);
    }
    RM_ASSIGN_OR_RETURN(JobPlan plan, plan_model_job(config, config_path, stream, job));
    return ModelJobInputs(std::move(config), std::move(stream), std::move(plan),
                          std::move(variants));
  }
  RM_ASSIGN_OR_RETURN(io::TokenStream stream,
                      io::read_input(m.input_path(), config.vocab, m.max_tokens()));
  RM_ASSIGN_OR_RETURN(JobPlan plan, plan_model_job(config, config_path, stream, job));
  return ModelJobInputs(std::move(config), std::move(stream), std::move(plan), nullptr);
}

Status ModelJobInputs::replan(pb::JobSpec& job) {
  RM_ASSIGN_OR_RETURN(
      JobPlan plan,
      plan_model_job(config_, job.model().model_dir() + "/config.json", stream_, job));
  plan_ = std::move(plan);
  return ok_status();
}

void ModelJobInputs::fill_assignment(int rank, pb::Assignment& assignment) const {
  const std::span<const uint8_t> input_ids = stream_.input_ids();
  const io::RecordTable& records = stream_.records();
  std::string* bytes = assignment.mutable_input_ids();
  bytes->clear();
  bytes->reserve(static_cast<size_t>(plan_->plan.num_local(rank)));
  assignment.clear_next_after_range();
  for (const comm::TokenRange& range : plan_->plan.ranges_of(rank)) {
    // Record by record: a record's <bos> is sent as 0 (input ids are < 256 in both
    // vocabularies; <bos> is the only larger id fed), then its input ids as they are.
    int64_t s = range.begin;
    while (s < range.end) {
      const io::RecordSpan record = records[static_cast<size_t>(stream_.record_at(s))];
      const int64_t stop = std::min(range.end, record.fed_end());
      if (s == record.fed_begin) {
        bytes->push_back(0);
        ++s;
      }
      const auto* first = input_ids.data() + record.offset + (s - record.fed_begin - 1);
      bytes->append(reinterpret_cast<const char*>(first), static_cast<size_t>(stop - s));
      s = stop;
    }
    const int64_t after = range.end;
    const bool same_record =
        after < stream_.num_tokens() && stream_.record_at(after) == stream_.record_at(after - 1);
    int32_t next = -1;
    if (same_record) stream_.fill_ids(after, std::span<int32_t>(&next, 1));
    assignment.add_next_after_range(next);
  }
}

}  // namespace ringmaster::coordinator
