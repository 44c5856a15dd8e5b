// coordinator/generated_records.h: a generate job's results as the workers report them: each
// record's continuation (ResultChunk.generated) and each rank's prefill and decode seconds (Done).
//
// Nothing a worker sends is trusted (RELIABILITY.md 3.9). A record must be one of the job's (index
// in range), come from the rank whose shard holds the record's last prompt token (its tail: that
// rank samples the record's tokens), arrive once, hold at most max_new_tokens regular ids of the
// vocabulary (never <bos>, <eos> or <pad>), and stop as MODEL.md says: at <eos> with fewer than
// max_new_tokens tokens (never with --ignore-eos), else at exactly max_new_tokens. Its
// log-likelihood is finite and not positive. A chunk that fails any check leaves no trace and
// fails the job (kInvalidArgument, or kDataLoss for a duplicate), naming the rank and record.
//
// Memory: the generated ids (4 bytes each) of every record, plus a rank and a flag per record.
// Thread-compatible: owned by the coordinator's strand (inside the ResultAssembler).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "comm/partition.h"
#include "core/status.h"
#include "io/outputs.h"
#include "io/tokens.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

class GeneratedRecords {
 public:
  // REQUIRES: validate_job_spec(job) is OK, job is a generate job, and `plan` is its plan.
  GeneratedRecords(const pb::JobSpec& job, const comm::PartitionPlan& plan, io::Vocab vocab);

  // Checks and stores the records of one chunk received from the worker holding `rank`.
  Status add(int rank, const pb::ResultChunk& chunk);
  // Checks a worker's Done: it claims `records` sent, all of its records arrived, and its
  // prefill and decode seconds are finite and not negative (the job reports the slowest rank's).
  Status check_done(int rank, int64_t records, double prefill_s, double decode_s);

  bool complete() const { return received_total_ == static_cast<int64_t>(records_.size()); }
  // Forgets every record and time received (a restarted attempt sends them all again).
  void clear();
  int64_t records_received(int rank) const { return received_[static_cast<size_t>(rank)]; }

  // By record index. REQUIRES for a whole output: complete().
  std::span<const io::Generation> records() const { return records_; }
  double prefill_s() const { return prefill_s_; }
  double decode_s() const { return decode_s_; }

 private:
  int64_t max_new_tokens_;
  bool ignore_eos_;
  int32_t regular_ids_;
  std::vector<int32_t> tail_owner_;  // [record] -> the rank owning its last prompt token
  std::vector<uint8_t> have_;        // [record] -> received
  std::vector<int64_t> expected_;    // [rank] -> records it owns
  std::vector<int64_t> received_;    // [rank] -> records received from it
  int64_t received_total_ = 0;
  std::vector<io::Generation> records_;
  double prefill_s_ = 0;
  double decode_s_ = 0;
};

}  // namespace ringmaster::coordinator
