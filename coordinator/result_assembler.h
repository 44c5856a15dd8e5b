// coordinator/result_assembler.h: places workers' result rows where they belong (a global token
// index for the attention check, an input index for a model job) until every row has arrived.
//
// Nothing a worker sends is trusted: each chunk must come from the rank it names, every token
// must be one the partition plan gives that rank, inside the sequence, and not already received,
// the rows must be exactly tokens x row_bytes (RELIABILITY.md 3.9), and every value must be
// finite (NaN or infinity is a failed computation). A chunk that fails is a kDataLoss /
// kInvalidArgument naming the rank and row, and the job fails; it is never written.
//
// A generate job's results are records, not rows: the assembler hands its chunks and Done
// reports to a GeneratedRecords (coordinator/generated_records.h), which checks them likewise.
// A variants job's results are a score job's rows plus branch log-likelihoods, which a
// BranchResults (coordinator/branch_results.h) checks; a chunk may carry either or both, and a
// worker's Done counts its rows only (its branches must all have arrived by then).
//
// Memory: the whole output ([num_tokens, n_heads, head_dim] or [input tokens, width] f32) lives
// here until it is written (bounded by proto::kMaxOutputBytes), plus a 4-byte owner and a 1-byte
// flag per row.
// Thread-compatible: owned by the coordinator's strand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/branch_results.h"
#include "coordinator/generated_records.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/atomic_file.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

class ResultAssembler {
 public:
  // REQUIRES (else its error): validate_job_spec(job) is OK; for a generate job, `vocab` is the
  // model's (its regular ids are the only ones a worker may send).
  static StatusOr<ResultAssembler> make(const pb::JobSpec& job,
                                        std::optional<io::Vocab> vocab = std::nullopt);

  // Checks and stores one chunk received from the worker holding `rank`. Errors (nothing is
  // stored): the checks above, e.g. kDataLoss "rank 1 sent row 7 holding NaN at element 0 of 2;
  // non-finite results are refused".
  Status add(int rank, const pb::ResultChunk& chunk);
  // Checks a worker's Done: it claims `rows`; all of its tokens must have arrived.
  Status check_done(int rank, int64_t rows) const;
  // The same for any job; a generate job's Done claims records and brings decode times.
  Status check_done(int rank, const pb::Done& done);

  bool complete() const {
    if (generated_) return generated_->complete();
    return received_total_ == num_tokens_ && (!branches_ || branches_->complete());
  }
  // Forgets every row received (a restarted attempt sends them all again).
  void clear();
  int64_t rows_received(int rank) const {
    return generated_ ? generated_->records_received(rank) : received_[static_cast<size_t>(rank)];
  }
  // [num_tokens, n_heads, head_dim] (check job) or [input tokens, d_model or 1] (model job), f32.
  const Tensor& output() const { return output_; }
  // A generate job's records and times; null for other jobs.
  const GeneratedRecords* generated() const { return generated_ ? &*generated_ : nullptr; }
  // A variants job's branch results; null for other jobs.
  const BranchResults* branches() const { return branches_ ? &*branches_ : nullptr; }

 private:
  ResultAssembler() = default;
  // add()'s rows: checked, then stored (all of them or, on error, none).
  Status add_rows(int rank, const pb::ResultChunk& chunk);

  int64_t num_tokens_ = 0;
  int64_t row_bytes_ = 0;
  std::vector<int32_t> owner_;     // [token] -> rank, from the plan
  std::vector<uint8_t> have_;      // [token] -> received
  std::vector<int64_t> expected_;  // [rank] -> tokens it owns
  std::vector<int64_t> received_;  // [rank] -> tokens received from it
  int64_t received_total_ = 0;
  Tensor output_;
  std::optional<GeneratedRecords> generated_;  // generate jobs, instead of the rows above
  std::optional<BranchResults> branches_;      // variants jobs, besides the rows above
};

// Writes `tensor` to `path` as .npy so that `path` either does not change or holds the whole
// file (through an io::AtomicFile). On any failure `path` is untouched and no partial file is
// left. Errors: a tensor npy cannot hold, I/O naming the path.
Status write_npy_atomically(const std::string& path, const Tensor& tensor);

// The slow half of write_npy_atomically: the .npy written into an AtomicFile for `path` and
// fsynced, but not yet renamed into place. The halves are separate so this one can run off the
// coordinator's strand and the rename (AtomicFile::commit) only once the job is known to have
// succeeded; dropping the AtomicFile removes the partial file.
StatusOr<io::AtomicFile> write_partial_npy(const std::string& path, const Tensor& tensor);

}  // namespace ringmaster::coordinator
