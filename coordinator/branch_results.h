// coordinator/branch_results.h: a variants job's branch log-likelihoods as the workers report
// them (ResultChunk.branches; ModelJob.branches says what each branch is).
//
// Nothing a worker sends is trusted (RELIABILITY.md 3.9). A branch result must name one of the
// job's branches, come from the rank that owns the branch's record at fed position base - 1 (the
// rank whose prefill logits give the branch's first term: PartitionPlan::owner_of), arrive
// exactly once, and hold a finite log-likelihood that is not positive (a sum of
// log-probabilities). A chunk that fails any check leaves no trace and fails the job
// (kInvalidArgument, or kDataLoss for a duplicate), naming the rank and branch; a rank whose
// Done comes before all of its branches is a kDataLoss.
//
// Memory: a double, a rank and a flag per branch. Thread-compatible: owned by the coordinator's
// strand (inside the ResultAssembler).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "comm/partition.h"
#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

class BranchResults {
 public:
  // REQUIRES: validate_job_spec(job) is OK and `plan` is its plan.
  BranchResults(const pb::JobSpec& job, const comm::PartitionPlan& plan);

  // Checks and stores the branches of one chunk from the worker holding `rank`.
  Status add(int rank, const pb::ResultChunk& chunk);
  // Forgets the branches of `chunk`, which add() accepted (the chunk's rows failed after it).
  void remove(int rank, const pb::ResultChunk& chunk);
  // Every branch the plan gives `rank` has arrived.
  Status check_done(int rank) const;

  bool complete() const { return received_total_ == static_cast<int64_t>(owner_.size()); }
  // Forgets every result (a restarted attempt sends them all again).
  void clear();
  int64_t received(int rank) const { return received_[static_cast<size_t>(rank)]; }
  // Nats by branch index. REQUIRES for a whole output: complete().
  std::span<const double> log_likelihoods() const { return log_likelihoods_; }

 private:
  std::vector<int32_t> owner_;     // [branch] -> the rank that must send it
  std::vector<uint8_t> have_;      // [branch] -> received
  std::vector<int64_t> expected_;  // [rank] -> branches it owns
  std::vector<int64_t> received_;  // [rank] -> branches received from it
  int64_t received_total_ = 0;
  std::vector<double> log_likelihoods_;
};

}  // namespace ringmaster::coordinator
