#include "model/atlas_chain.h"

#include <algorithm>
#include <string>

namespace ringmaster::model {
namespace {

struct OwnedRange {
  int64_t begin, end;
  int rank;
};

// Every rank's ranges, sorted by begin: the owner of any stream index by binary search.
std::vector<OwnedRange> owners(const comm::PartitionPlan& plan) {
  std::vector<OwnedRange> all;
  for (int r = 0; r < plan.world(); ++r) {
    for (const comm::TokenRange& range : plan.ranges_of(r)) {
      all.push_back({range.begin, range.end, r});
    }
  }
  std::sort(all.begin(), all.end(),
            [](const OwnedRange& a, const OwnedRange& b) { return a.begin < b.begin; });
  return all;
}

int owner_of(const std::vector<OwnedRange>& all, int64_t token) {
  auto it = std::upper_bound(all.begin(), all.end(), token,
                             [](int64_t t, const OwnedRange& r) { return t < r.begin; });
  return it == all.begin() || token >= std::prev(it)->end ? -1 : std::prev(it)->rank;
}

// Ranges holding tokens in [begin, end).
int64_t ranges_between(const std::vector<OwnedRange>& all, int64_t begin, int64_t end) {
  auto first = std::upper_bound(all.begin(), all.end(), begin,
                                [](int64_t t, const OwnedRange& r) { return t < r.end; });
  auto last = std::lower_bound(all.begin(), all.end(), end,
                               [](const OwnedRange& r, int64_t t) { return r.begin < t; });
  return std::max<int64_t>(0, last - first);
}

}  // namespace

StatusOr<std::vector<ChainPiece>> chain_pieces(const ShardContext& ctx, int64_t chunk) {
  if (ctx.plan->kind() == comm::PlanKind::kStriped) {
    return failed_precondition(
        "atlas: the striped plan would hand the memory state on at every stripe; use the "
        "contiguous or zigzag plan for a model with atlas blocks");
  }
  const std::vector<OwnedRange> all = owners(*ctx.plan);
  const int me = ctx.comm->rank();
  std::vector<ChainPiece> pieces;
  const int64_t n = ctx.num_local();
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && ctx.tokens[j] == ctx.tokens[j - 1] + 1 && ctx.seq[j] == ctx.seq[i]) ++j;
    ChainPiece p;
    p.record = ctx.seq[i];
    p.local_begin = i;
    p.len = j - i;
    p.first_pos = ctx.pos[i];
    const int64_t last_pos = ctx.pos[j - 1];
    if (p.first_pos > 0) {
      p.prev_rank = owner_of(all, ctx.tokens[i] - 1);
      p.hops = ranges_between(all, ctx.tokens[i] - p.first_pos, ctx.tokens[i]);
    }
    if (last_pos + 1 < ctx.layout->length(p.record)) {
      p.next_rank = owner_of(all, ctx.tokens[j - 1] + 1);
    }
    for (const int64_t cut : {p.first_pos, last_pos + 1}) {
      const bool inside = cut > 0 && cut < ctx.layout->length(p.record);
      if (inside && cut % chunk != 0) {
        return failed_precondition("atlas: rank " + std::to_string(me) + "'s tokens of record " +
                                   std::to_string(p.record) + " start or end at position " +
                                   std::to_string(cut) + ", not a multiple of the atlas chunk " +
                                   std::to_string(chunk) + "; align the plan to the chunk");
      }
    }
    if ((p.first_pos > 0 && (p.prev_rank < 0 || p.prev_rank == me)) || p.next_rank == me) {
      return internal_error("atlas: record " + std::to_string(p.record) +
                            " has a piece boundary without another owner");
    }
    pieces.push_back(p);
    i = j;
  }
  return pieces;
}

}  // namespace ringmaster::model
