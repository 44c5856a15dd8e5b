// coordinator/model_job.h: what the coordinator does for a model job before any worker joins.
//
// It checks the model directory (config.json and the weights against it, so a bad model fails in
// a second, naming the file and tensor, before P workers load it), refuses what the model cannot
// do (score with a bidirectional model, an atlas model on the striped plan, ulysses with heads
// that do not split), tokenizes the input (io::read_input) and fills in the rest of the job spec:
// the record lengths, d_model, the block count and the plan alignment. The alignment is the
// least common multiple of --plan-align and every local/fit group and atlas chunk, so each rank
// gets whole groups and chunks of every record.
//
// Then, per rank, fill_assignment puts that rank's tokens into its Assignment.
// Ownership: ModelJobInputs owns the token stream and the plan. Thread-compatible.
#pragma once

#include <string>

#include "comm/partition.h"
#include "core/status.h"
#include "io/tokens.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

class ModelJobInputs {
 public:
  // Completes `job` (which names the model directory, task, pool and mixer) from the model and
  // the input at `input_path`. On success `job` passes validate_job_spec.
  static StatusOr<ModelJobInputs> prepare(const std::string& input_path, pb::JobSpec& job);

  const io::TokenStream& stream() const { return stream_; }
  const comm::PartitionPlan& plan() const { return plan_; }

  // Sets assignment.input_ids and next_after_range for `rank` (ringmaster.proto).
  void fill_assignment(int rank, pb::Assignment& assignment) const;

 private:
  ModelJobInputs(io::TokenStream stream, comm::PartitionPlan plan)
      : stream_(std::move(stream)), plan_(std::move(plan)) {}

  io::TokenStream stream_;
  comm::PartitionPlan plan_;
};

}  // namespace ringmaster::coordinator
