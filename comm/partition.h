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
//
// Rank weights (--rank-weights: workers of different speeds) size the shards so that every rank
// finishes together: rank r's share of the tokens is w_r / sum(w), per plan:
//   contiguous  chunk r spans the cumulative weights [W_r, W_{r+1}) of L, W_r = sum_{j<r} w_j
//   zigzag      chunks r and 2P-1-r both get w_r / (2 sum w) of L: the front and back halves are
//               mirror images, so rank r's two chunks are equally long and their centres still
//               sum to L; its causal work (tokens x mean position) is then w_r / sum(w) of the
//               total, as with equal chunks, and the balance zigzag exists for is kept
//   striped     rank r's stripes are u_r align tokens long, u_r = round(k w_r / min w) for the
//               smallest k in 1, 2, 4, 8, 16 that puts every u_r within 5% of k w_r / min w;
//               each round of P stripes then gives every rank a share proportional to u_r
// Each weighted cut is the nearest group boundary of the record that the exact proportional cut
// falls in (not only forward as with equal chunks), so no rank is off by more than `align`
// tokens per cut. Equal weights (or none) give exactly the unweighted plan. The cut changes
// only which rank computes a token: every mixer is exact for any cut, so a weighted plan gives
// the same output as the unweighted one, up to float summation order.
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

// OK when `weights` is empty (equal ranks) or holds `world` finite weights > 0 whose largest is
// at most 2^20 times the smallest; kInvalidArgument naming the bad entry otherwise.
Status check_rank_weights(std::span<const double> weights, int world);

class PartitionPlan {
 public:
  // `weights`: empty (equal shards) or one relative speed per rank (see above).
  // REQUIRES (else kInvalidArgument): num_tokens >= 0, world >= 1, align >= 1, and
  // check_rank_weights(weights, world).
  static StatusOr<PartitionPlan> make(PlanKind kind, int64_t num_tokens, int world,
                                      int64_t align = 1, std::span<const double> weights = {});
  // As make() over the records of `layout`, with cuts on group boundaries of each record.
  static StatusOr<PartitionPlan> make_for_records(PlanKind kind, const RecordLayout& layout,
                                                  int world, int64_t align = 1,
                                                  std::span<const double> weights = {});

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
  // A weighted plan groups the same way (its chunks merge as they stand), as if each group's
  // weight were the sum of its members'.
  // REQUIRES (else kInvalidArgument): group >= 1 divides world().
  StatusOr<PartitionPlan> grouped(int group) const;

 private:
  PartitionPlan(PlanKind kind, int world, std::vector<int64_t> bounds);
  // The chunk bounds of a weighted plan. REQUIRES: make_for_records' arguments checked.
  static std::vector<int64_t> weighted_bounds(PlanKind kind, const RecordLayout& layout, int world,
                                              int64_t align, std::span<const double> weights);

  PlanKind kind_;
  int world_;
  std::vector<int64_t> bounds_;  // chunk c is [bounds_[c], bounds_[c + 1])
};

}  // namespace ringmaster::comm
