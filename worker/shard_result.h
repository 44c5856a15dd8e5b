// worker/shard_result.h: what a shard computed, ready to stream to the coordinator.
//
// rows[i] names the output row that values' row i fills: a global token index for the attention
// check, an input index (MODEL.md: the row of embeddings.npy or scores.npy) for a model job.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ringmaster::worker {

struct ShardStats {
  double wall_s = 0;     // assignment to result
  double compute_s = 0;  // inside the math
  double wait_s = 0;     // blocked on the data plane
  int64_t bytes_sent = 0;
};

// A variants job's branch (worker/branches.h), reported by the rank that ran it.
struct BranchOutcome {
  int32_t branch = 0;         // index into the job's branches
  double log_likelihood = 0;  // nats
};

struct ShardResult {
  std::vector<int64_t> rows;
  Tensor values;                        // [rows.size(), width] f32, in the order of rows
  std::vector<BranchOutcome> branches;  // variants jobs: the branches this rank ran
  double prefill_s = 0;                 // variants jobs: the records' forward pass
  double branch_s = 0;                  // variants jobs: every branch step
  ShardStats stats;
};

}  // namespace ringmaster::worker
