// attention/hybrid.h: exact attention over a 2-D mesh of ranks (USP, ALGORITHMS.md 3.2): Ulysses
// all-to-all inside groups of U consecutive ranks, ring attention across the P / U groups.
//
// Ulysses needs U to divide the heads and moves every token's Q, K, V and output over the
// group's links; the ring needs nothing of the heads and moves K/V blocks to one neighbour,
// overlapped with compute. A hybrid keeps the all-to-all on the U ranks of a fast domain (one
// host, one NVLink island) and the ring on the slow links between domains, and lets P exceed the
// head count. U = 1 is ring attention and U = P is Ulysses, both through this same path.
// Same contract as ring_attention (ring.h), `layout` included (ulysses_exchange checks the
// positions a group peer sends, naming its rank; the ring those a group sends, naming the
// group's index as "rank", since the ring's ranks are the groups); any partition plan. REQUIRES
// host q, k, v, as Ulysses; blocks still compute on `backend`.
#pragma once

#include "attention/ring.h"

namespace ringmaster::attention {

// kInvalidArgument, one line naming --ulysses-degree, when `ulysses_degree` does not divide the
// world or n_heads. A U that does not divide n_kv_heads is allowed: each rank then gets a copy
// of the kv head of each of its query heads (more K/V traffic, the answer unchanged).
Status check_hybrid(int world, int ulysses_degree, int64_t n_heads);

StatusOr<BlockResult> hybrid_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       int ulysses_degree, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const Positions& positions,
                                       const MaskSpec& mask, AttentionBackend& backend,
                                       uint32_t layer, DistStats* stats = nullptr,
                                       const comm::RecordLayout* layout = nullptr);

}  // namespace ringmaster::attention
