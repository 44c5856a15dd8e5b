// worker/result_streamer.h: cuts a rank's output into ResultChunk messages, one at a time: rows
// (the attention check, embed, score) or a generate job's records.
//
// The caller asks for the next chunk only when the previous one has left the socket
// (Connection::when_drained), so at most one encoded chunk exists besides the output itself,
// and heartbeats interleave between chunks. A chunk of rows holds at most `chunk_bytes` of rows
// and proto::kMaxResultChunkTokens tokens, so it always fits a frame. A chunk of records holds
// whole records, as many as fit `chunk_bytes` encoded, and at least one (a record of at most
// proto::kMaxNewTokens ids, each 1 or 2 bytes encoded, always fits a frame). A variants job's
// branch results ride along with its rows, kBranchesPerChunk at most per chunk (about 16 bytes
// each encoded), in extra chunks once the rows are out.
//
// Thread-compatible: used on the worker's strand after the shard thread handed the output over.
#pragma once

#include <cstdint>
#include <optional>

#include "proto/ringmaster.pb.h"
#include "worker/generate_shard.h"
#include "worker/shard_result.h"

namespace ringmaster::worker {

class ResultStreamer {
 public:
  // REQUIRES: result.values holds rows.size() rows of row_bytes; row_bytes <= chunk_bytes.
  ResultStreamer(ShardResult result, int rank, int64_t row_bytes, int64_t chunk_bytes);
  // A generate job's records. REQUIRES: chunk_bytes >= 1.
  ResultStreamer(GenerateShardResult result, int rank, int64_t chunk_bytes);

  // The next chunk, or nullopt when everything was handed out.
  std::optional<pb::ResultChunk> next();

  // Rows, or records of a generate job (Done.rows).
  int64_t rows() const;
  const ShardStats& stats() const { return generated_ ? generated_->stats : result_.stats; }
  // A generate job's prompt forward pass and decode, a variants job's prefill and branches; 0 for
  // other jobs.
  double prefill_s() const { return generated_ ? generated_->prefill_s : result_.prefill_s; }
  double decode_s() const { return generated_ ? generated_->decode_s : result_.branch_s; }

 private:
  std::optional<pb::ResultChunk> next_records();

  ShardResult result_;
  std::optional<GenerateShardResult> generated_;
  int rank_;
  int64_t row_bytes_ = 0;
  int64_t chunk_bytes_ = 0;
  int64_t rows_per_chunk_ = 0;
  int64_t next_row_ = 0;
  int64_t next_branch_ = 0;
  static constexpr int64_t kBranchesPerChunk = 1024;
};

}  // namespace ringmaster::worker
