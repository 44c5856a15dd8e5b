// coordinator/model_job.h: what the coordinator does for a model job before any worker joins.
//
// It checks the model directory (config.json and the weights against it, so a bad model fails in
// a second, naming the file and tensor, before P workers load it), tokenizes the input
// (io::read_input, at most ModelJob.max_tokens) and hands both to the planner
// (coordinator/planner.h), which refuses what the model cannot do, fills in the rest of the job
// spec and cuts the stream.
//
// A variants job's stream is not the input as read but the records its variants need
// (coordinator/variant_job.h); with no scorable variant it has no records, no plan and no work
// for any worker (has_work() false).
//
// Then, per rank, fill_assignment puts that rank's tokens into its Assignment.
// Ownership: ModelJobInputs owns the token stream and the plan, and shares the variants job with
// the output. Thread-compatible.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "comm/partition.h"
#include "coordinator/planner.h"
#include "coordinator/variant_job.h"
#include "core/status.h"
#include "io/tokens.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

class ModelJobInputs {
 public:
  // Completes `job` (a model job that passed validate_job_request) from its model and input.
  // On success `job` passes validate_job_spec.
  static StatusOr<ModelJobInputs> prepare(pb::JobSpec& job);

  const io::TokenStream& stream() const { return stream_; }
  // False only for a variants job without a scorable variant: no plan, no worker.
  bool has_work() const { return plan_.has_value(); }
  // REQUIRES: has_work().
  const comm::PartitionPlan& plan() const { return plan_->plan; }
  const model::MemoryEstimate& busiest_rank_memory() const { return plan_->busiest_rank; }
  // A variants job's calls, rows and branches; null for other tasks.
  const std::shared_ptr<const VariantJob>& variants() const { return variants_; }

  const model::ModelConfig& config() const { return config_; }

  // Cuts the stream again for job.rank_weights (--rank-weights auto, once the workers' speeds
  // are in), completing `job` as prepare did. On an error (the busiest rank no longer fits, ...)
  // the plan is unchanged. REQUIRES: has_work().
  Status replan(pb::JobSpec& job);

  // Sets assignment.input_ids and next_after_range for `rank` (ringmaster.proto).
  // REQUIRES: has_work().
  void fill_assignment(int rank, pb::Assignment& assignment) const;

 private:
  ModelJobInputs(model::ModelConfig config, io::TokenStream stream, std::optional<JobPlan> plan,
                 std::shared_ptr<const VariantJob> variants)
      : config_(std::move(config)),
        stream_(std::move(stream)),
        plan_(std::move(plan)),
        variants_(std::move(variants)) {}

  model::ModelConfig config_;
  io::TokenStream stream_;
  std::optional<JobPlan> plan_;
  std::shared_ptr<const VariantJob> variants_;
};

}  // namespace ringmaster::coordinator
