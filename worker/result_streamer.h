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

#include "proto/ringmaster.pb.h"
#include "worker/shard_result.h"

namespace ringmaster::worker {

class ResultStreamer {
 public:
  // REQUIRES: result.values holds rows.size() rows of row_bytes; row_bytes <= chunk_bytes.
  ResultStreamer(ShardResult result, int rank, int64_t row_bytes, int64_t chunk_bytes);

  // The next chunk, or nullopt when every row was handed out.
  std::optional<pb::ResultChunk> next();

  int64_t rows() const { return static_cast<int64_t>(result_.rows.size()); }
  const ShardStats& stats() const { return result_.stats; }

 private:
  ShardResult result_;
  int rank_;
  int64_t row_bytes_;
  int64_t rows_per_chunk_;
  int64_t next_row_ = 0;
};

}  // namespace ringmaster::worker
