// Hybrid attention: Ulysses inside groups of U consecutive ranks, ring across the groups.
//
// Step schedule, P = U x R ranks; rank r is member u = r mod U of Ulysses group g = r / U
// (ranks gU .. gU+U-1) and ring rank g of ring group u (ranks u, u+U, .., u+(R-1)U):
//   1. Ulysses all-to-all inside group g (ulysses_exchange): rank r trades its tokens x all heads
//      for the group's tokens x query heads [u H/U, (u+1) H/U) and their kv heads: kv slice
//      [u H_kv/U, (u+1) H_kv/U) when U divides H_kv (GQA stays grouped, no copies), else one
//      copy of each query head's kv head (as Ulysses does: more K/V bytes, same answer).
//   2. reorder: the rows arrive grouped by source member; they are put in increasing global
//      order, which is ring rank g's local order in plan.grouped(U).
//   3. ring attention (ring.cc) over ring group u and plan.grouped(U): every member of the ring
//      group holds the same heads, so K/V blocks of one head slice travel round the R groups.
//   4. the inverse reorder, then the Ulysses all-to-all back to rank r's tokens x all heads.
// Zigzag: the job's plan deals chunks r and 2P-1-r of 2P to rank r, so group g holds chunks
// [gU, (g+1)U) and [2P-(g+1)U, 2P-gU): exactly zigzag chunks g and 2R-1-g of the ring's 2R. The
// all-to-all delivers them interleaved (chunk gU, chunk 2P-1-gU, chunk gU+1, ...); step 2 puts
// them back as [chunk g ; chunk 2R-1-g], the layout zigzag ring attention balances on (USP's
// users hit the bug of skipping this reorder). Masks come from positions, so any order would be
// exact; the reorder is what keeps every ring step's visible work contiguous and balanced, and
// what the ring's check of a received block against plan.grouped(U) expects.
// Traffic per rank and layer: Ulysses' over U ranks, 4 n d (U-1)/U, plus the ring's
// blocks of the group's tokens for H_kv/U heads (ALGORITHMS.md 3.2).
#include "attention/hybrid.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "attention/ulysses.h"
#include "comm/group_comm.h"

namespace ringmaster::attention {
namespace {

// out row order[i] <- t row i (forward), or out row i <- t row order[i] (back).
Tensor permute_rows(const Tensor& t, const std::vector<int64_t>& order, bool forward) {
  Tensor out = Tensor::empty(t.shape(), DType::kF32);
  const int64_t row = t.numel() / std::max<int64_t>(1, t.dim(0));
  const float* src = t.data<float>();
  float* dst = out.data<float>();
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t from = forward ? static_cast<int64_t>(i) : order[i];
    const int64_t to = forward ? order[i] : static_cast<int64_t>(i);
    std::memcpy(dst + to * row, src + from * row, static_cast<size_t>(row) * sizeof(float));
  }
  return out;
}

}  // namespace

Status check_hybrid(int world, int ulysses_degree, int64_t n_heads) {
  const std::string flag = "--ulysses-degree " + std::to_string(ulysses_degree);
  if (ulysses_degree < 1 || world % ulysses_degree != 0) {
    return invalid_argument(flag + " does not divide --workers " + std::to_string(world) +
                            " (the ring degree is workers / ulysses degree)");
  }
  if (n_heads % ulysses_degree != 0) {
    return invalid_argument(flag + " does not divide the " + std::to_string(n_heads) +
                            " query heads (each member of a Ulysses group takes heads / degree)");
  }
  return ok_status();
}

StatusOr<BlockResult> hybrid_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       int ulysses_degree, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const Positions& positions,
                                       const MaskSpec& mask, AttentionBackend& backend,
                                       uint32_t layer, DistStats* stats,
                                       const comm::RecordLayout* layout) {
  const int world = comm.size(), rank = comm.rank(), degree = ulysses_degree;
  RM_RETURN_IF_ERROR(check_hybrid(world, degree, q.dim(1)));
  if (plan.world() != world) {
    return invalid_argument("hybrid: plan for " + std::to_string(plan.world()) + " ranks, " +
                            std::to_string(world) + " in the communicator");
  }
  const int group = rank / degree, member = rank % degree;
  std::vector<int> ulysses_members, ring_members;
  for (int i = 0; i < degree; ++i) ulysses_members.push_back(group * degree + i);
  for (int j = 0; j < world / degree; ++j) ring_members.push_back(j * degree + member);
  comm::GroupComm ulysses_comm(comm, std::move(ulysses_members));
  comm::GroupComm ring_comm(comm, std::move(ring_members));
  RM_ASSIGN_OR_RETURN(const comm::PartitionPlan ring_plan, plan.grouped(degree));

  // order[i]: where the i-th row of the all-to-all (source-member order) sits in ring order.
  const std::vector<int64_t> ring_tokens = ring_plan.tokens_of(group);
  std::vector<int64_t> order;
  order.reserve(ring_tokens.size());
  for (int i = 0; i < degree; ++i) {
    for (int64_t t : plan.tokens_of(group * degree + i)) {
      order.push_back(std::lower_bound(ring_tokens.begin(), ring_tokens.end(), t) -
                      ring_tokens.begin());
    }
  }

  DistStats local_stats;
  DistStats& st = stats ? *stats : local_stats;
  auto ring_across_groups = [&](const Tensor& q_heads, const Tensor& k_heads, const Tensor& v_heads,
                                const Positions& gathered) -> StatusOr<BlockResult> {
    if (gathered.size() != static_cast<int64_t>(order.size())) {
      return internal_error("hybrid: " + std::to_string(gathered.size()) + " rows gathered, " +
                            std::to_string(order.size()) + " planned");
    }
    std::vector<int64_t> pos(order.size());
    std::vector<int32_t> seq(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
      pos[static_cast<size_t>(order[i])] = gathered.pos[i];
      seq[static_cast<size_t>(order[i])] = gathered.seq_of(static_cast<int64_t>(i));
    }
    RM_ASSIGN_OR_RETURN(
        BlockResult ring,
        ring_attention(ring_comm, ring_plan, permute_rows(q_heads, order, true),
                       permute_rows(k_heads, order, true), permute_rows(v_heads, order, true),
                       Positions{pos, seq}, mask, backend, layer, &st, layout));
    return BlockResult{permute_rows(ring.out, order, false), permute_rows(ring.lse, order, false)};
  };
  return ulysses_exchange(ulysses_comm, plan, group * degree, q, k, v, positions, layer, st, layout,
                          ring_across_groups);
}

}  // namespace ringmaster::attention
