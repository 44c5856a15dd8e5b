#include "worker/result_streamer.h"

#include <algorithm>

#include "proto/frame.h"

namespace ringmaster::worker {

ResultStreamer::ResultStreamer(ShardResult result, int rank, int64_t row_bytes, int64_t chunk_bytes)
    : result_(std::move(result)), rank_(rank), row_bytes_(row_bytes) {
  RM_CHECK(row_bytes_ > 0 && chunk_bytes >= row_bytes_)
      << "row " << row_bytes_ << " bytes, chunk " << chunk_bytes;
  RM_CHECK(rows() == 0 || static_cast<int64_t>(result_.values.bytes()) == rows() * row_bytes_)
      << result_.values.to_string() << " does not hold " << rows() << " rows of " << row_bytes_
      << " bytes";
  rows_per_chunk_ = std::min<int64_t>(chunk_bytes / row_bytes_, proto::kMaxResultChunkTokens);
}

ResultStreamer::ResultStreamer(GenerateShardResult result, int rank, int64_t chunk_bytes)
    : generated_(std::move(result)), rank_(rank), chunk_bytes_(chunk_bytes) {
  RM_CHECK(chunk_bytes_ >= 1) << "chunk " << chunk_bytes_;
}

int64_t ResultStreamer::rows() const {
  return static_cast<int64_t>(generated_ ? generated_->records.size() : result_.rows.size());
}

std::optional<pb::ResultChunk> ResultStreamer::next_records() {
  const std::vector<GeneratedRecord>& records = generated_->records;
  if (next_row_ >= rows()) return std::nullopt;
  pb::ResultChunk chunk;
  chunk.set_rank(rank_);
  size_t bytes = 0;
  while (next_row_ < rows() && chunk.generated_size() < proto::kMaxResultChunkTokens) {
    const GeneratedRecord& from = records[static_cast<size_t>(next_row_)];
    pb::GeneratedRecord record;
    record.set_record(from.record);
    record.mutable_tokens()->Add(from.tokens.begin(), from.tokens.end());
    record.set_log_likelihood(from.log_likelihood);
    record.set_eos(from.eos);
    const size_t size = record.ByteSizeLong() + 8;  // + its tag and length in the chunk
    if (chunk.generated_size() > 0 && bytes + size > static_cast<size_t>(chunk_bytes_)) break;
    bytes += size;
    *chunk.add_generated() = std::move(record);
    ++next_row_;
  }
  return chunk;
}

std::optional<pb::ResultChunk> ResultStreamer::next() {
  if (generated_) return next_records();
  const int64_t n = rows();
  const auto branches = static_cast<int64_t>(result_.branches.size());
  if (next_row_ >= n && next_branch_ >= branches) return std::nullopt;
  const int64_t begin = next_row_;
  const int64_t end = std::min(n, begin + rows_per_chunk_);
  next_row_ = end;
  pb::ResultChunk chunk;
  chunk.set_rank(rank_);
  // A variants job's branches ride along with the rows, a bounded number per chunk.
  const int64_t branch_end = std::min(branches, next_branch_ + kBranchesPerChunk);
  for (; next_branch_ < branch_end; ++next_branch_) {
    const BranchOutcome& b = result_.branches[static_cast<size_t>(next_branch_)];
    pb::BranchResult* out = chunk.add_branches();
    out->set_branch(b.branch);
    out->set_log_likelihood(b.log_likelihood);
  }
  chunk.mutable_tokens()->Reserve(static_cast<int>(end - begin));
  for (int64_t i = begin; i < end; ++i) chunk.add_tokens(result_.rows[static_cast<size_t>(i)]);
  // Values are in the order of result_.rows: one contiguous copy.
  const auto* rows = static_cast<const char*>(result_.values.raw());
  chunk.set_rows(rows + begin * row_bytes_, static_cast<size_t>((end - begin) * row_bytes_));
  return chunk;
}

}  // namespace ringmaster::worker
