// worker/result_streamer.h: cuts a rank's output rows into ResultChunk messages, one at a time.
//
// The caller asks for the next chunk only when the previous one has left the socket
// (Connection::when_drained), so at most one encoded chunk exists besides the rows themselves,
// and heartbeats interleave between chunks. A chunk holds at most `chunk_bytes` of rows and
// proto::kMaxResultChunkTokens tokens, so it always fits a frame.
//
// Thread-compatible: used on the worker's strand after the shard thread handed the rows over.
#pragma once

#include <cstdint>
#include <optional>

#include "attention/check_job.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::worker {

class ResultStreamer {
 public:
  // `result.out` is [tokens.size(), n_heads, head_dim] f32, rows of `row_bytes`.
  // REQUIRES: result.out holds tokens.size() rows of row_bytes; row_bytes <= chunk_bytes.
  ResultStreamer(attention::CheckJobResult result, int rank, int64_t row_bytes,
                 int64_t chunk_bytes);

  // The next chunk, or nullopt when every row was handed out.
  std::optional<pb::ResultChunk> next();

  int64_t rows() const { return static_cast<int64_t>(result_.tokens.size()); }
  const attention::CheckJobStats& stats() const { return result_.stats; }

 private:
  attention::CheckJobResult result_;
  int rank_;
  int64_t row_bytes_;
  int64_t rows_per_chunk_;
  int64_t next_row_ = 0;
};

}  // namespace ringmaster::worker
