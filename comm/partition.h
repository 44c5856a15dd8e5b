// comm/partition.h: which rank owns which tokens of the job's token stream.
//
// The stream (all records, concatenated) is cut into chunks; ARCHITECTURE.md's plans:
//   contiguous  C = P chunks,  chunk r -> rank r
//   zigzag      C = 2P chunks, chunks r and 2P-1-r -> rank r   (balances causal work)
//   striped     stripes of `align` tokens, stripe i -> rank i mod P
// Chunk sizes are ceil(L / C) rounded up to a multiple of `align` (a FIT group, an ATLAS
// chunk); with several records, each cut moves forward to the next group boundary of the record
// it falls in (positions restart at each record), so no group straddles two ranks. Trailing
// chunks may be short or empty. A rank's local order is increasing global index.
// Immutable after make(): thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace ringmaster::comm {

enum class PlanKind { kContiguous, kZigzag, kStriped };

StatusOr<PlanKind> parse_plan(std::string_view name);  // "contiguous", "zigzag", "striped"
const char* plan_name(PlanKind kind);

// A half-open range [begin, end) of global token indices.
struct TokenRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// Records laid end to end in the token stream; each record's tokens have positions 0, 1, ...
class RecordLayout {
 public:
  // `lengths[r]`: tokens of record r, its <bos> included. REQUIRES: every length >= 1.
  explicit RecordLayout(std::vector<int64_t> lengths);
  static RecordLayout single(int64_t num_tokens) { return RecordLayout({num_tokens}); }

  int num_records() const { return static_cast<int>(starts_.size()) - 1; }
  int64_t num_tokens() const { return starts_.back(); }
  int64_t start(int record) const { return starts_[static_cast<size_t>(record)]; }
  int64_t length(int record) const { return start(record + 1) - start(record); }
  // The record holding stream index `token`. REQUIRES: 0 <= token < num_tokens().
  int record_of(int64_t token) const;
  // Positions within their records and record ids of `tokens` (stream indices).
  void positions_of(std::span<const int64_t> tokens, std::vector<int64_t>& pos,
                    std::vector<int32_t>& seq) const;

 private:
  std::vector<int64_t> starts_;  // num_records + 1 stream offsets
};

class PartitionPlan {
 public:
  // REQUIRES (else kInvalidArgument): num_tokens >= 0, world >= 1, align >= 1.
  static StatusOr<PartitionPlan> make(PlanKind kind, int64_t num_tokens, int world,
                                      int64_t align = 1);
  // As make() over the records of `layout`, with cuts on group boundaries of each record.
  static StatusOr<PartitionPlan> make_for_records(PlanKind kind, const RecordLayout& layout,
                                                  int world, int64_t align = 1);

  PlanKind kind() const { return kind_; }
  int world() const { return world_; }
  int64_t num_tokens() const { return bounds_.back(); }

  // The rank that owns stream index `token`. REQUIRES: 0 <= token < num_tokens().
  int owner_of(int64_t token) const;
  // The ranges `rank` owns, in increasing order (empty ranges left out).
  std::vector<TokenRange> ranges_of(int rank) const;
  // The global indices `rank` owns, in its local order.
  std::vector<int64_t> tokens_of(int rank) const;
  int64_t num_local(int rank) const;
  // The largest num_local over ranks: the size of a buffer that can hold any rank's block.
  int64_t max_local() const;

  // The plan over world() / group ranks in which rank g owns what ranks [g group, (g+1) group)
  // own here, in increasing global order: the ring of a hybrid runs over it (attention/hybrid.h).
  // It is a plan of the same kind, because merging `group` consecutive chunks turns each kind
  // over P ranks into itself over P / group: contiguous chunks stay contiguous; zigzag chunks
  // [gU, (g+1)U) and [2P-(g+1)U, 2P-gU) are zigzag chunks g and 2R-1-g of R = P / U ranks;
  // stripe c (rank c mod P) lands in stripe c / U (rank (c / U) mod R = (c mod P) / U).
  // REQUIRES (else kInvalidArgument): group >= 1 divides world().
  StatusOr<PartitionPlan> grouped(int group) const;

 private:
  PartitionPlan(PlanKind kind, int world, std::vector<int64_t> bounds);

  PlanKind kind_;
  int world_;
  std::vector<int64_t> bounds_;  // chunk c is [bounds_[c], bounds_[c + 1])
};

}  // namespace ringmaster::comm
