// coordinator/model_job.h: what the coordinator does for a model job before any worker joins.
//
// It checks the model directory (config.json and the weights against it, so a bad model fails in
// a second, naming the file and tensor, before P workers load it), tokenizes the input
// (io::read_input, at most ModelJob.max_tokens) and hands both to the planner
// (coordinator/planner.h), which refuses what the model cannot do, fills in the rest of the job
// spec and cuts the stream.
//
// Then, per rank, fill_assignment puts that rank's tokens into its Assignment.
// Ownership: ModelJobInputs owns the token stream and the plan. Thread-compatible.
#pragma once

#include <string>

#include "comm/partition.h"
#include "coordinator/planner.h"
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
  const comm::PartitionPlan& plan() const { return plan_.plan; }
  const model::MemoryEstimate& busiest_rank_memory() const { return plan_.busiest_rank; }

  // Sets assignment.input_ids and next_after_range for `rank` (ringmaster.proto).
  void fill_assignment(int rank, pb::Assignment& assignment) const;

 private:
  ModelJobInputs(io::TokenStream stream, JobPlan plan)
      : stream_(std::move(stream)), plan_(std::move(plan)) {}

  io::TokenStream stream_;
  JobPlan plan_;
};

}  // namespace ringmaster::coordinator
