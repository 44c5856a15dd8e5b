// worker/shard_result.h: what a shard computed, ready to stream to the coordinator.
//
// rows[i] names the output row that values' row i fills: a global token index for the attention
// check, an input index (MODEL.md: the row of embeddings.npy or scores.npy) for a model job.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ringmaster::worker {

// One phase of a rank's run: a block kind ("attention", "window", "local", "fit", "atlas"),
// "decode" (decode and branch steps), or "other" (the rest: loading, embedding, the head,
// end-of-job exchanges). Counted by comm::CountingComm (comm/counting_comm.h).
struct PhaseStats {
  std::string name;
  int64_t blocks = 0;    // blocks of this kind run (scopes entered)
  double wall_s = 0;     // time in the phase
  double compute_s = 0;  // wall_s - wait_s
  double wait_s = 0;     // blocked on the data plane: every exchange of the phase
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};

struct ShardStats {
  double wall_s = 0;     // assignment to result
  double compute_s = 0;  // wall_s - wait_s
  double wait_s = 0;     // blocked on the data plane (every kind of exchange)
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  std::vector<PhaseStats> phases;  // in first-run order; their wall_s add up to wall_s
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
