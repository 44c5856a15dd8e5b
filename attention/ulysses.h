// attention/ulysses.h: exact attention by re-sharding from tokens to heads (DeepSpeed-Ulysses).
//
// An all-to-all turns each rank's [n_local, H, d] rows into [L, H/P, d]: every token, a slice of
// the heads. Attention then runs locally over the whole sequence for those heads, and a second
// all-to-all brings the output back to token shards. Needs n_heads divisible by P; when n_kv_heads
// is not, each rank receives a copy of the kv head of each of its query heads.
// Same contract as ring_attention (ring.h), `layout` included (the positions and sequence ids
// each peer sends are checked, kDataLoss naming it and the layer); any partition plan. REQUIRES
// host q, k, v (the head packing runs on the host); blocks still compute on `backend`.
#pragma once

#include <functional>

#include "attention/ring.h"

namespace ringmaster::attention {

StatusOr<BlockResult> ulysses_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                        const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Positions& positions, const MaskSpec& mask,
                                        AttentionBackend& backend, uint32_t layer,
                                        DistStats* stats = nullptr,
                                        const comm::RecordLayout* layout = nullptr);

// What a rank does between the two all-to-alls: q [n, H/U, d], k and v [n, kv heads, d] and the
// positions of the group's n tokens, grouped by source rank (each source's rows in its local
// order); returns the host result for those rows and heads: out [n, H/U, d], lse [n, H/U].
using HeadSliceAttention = std::function<StatusOr<BlockResult>(
    const Tensor& q, const Tensor& k, const Tensor& v, const Positions& positions)>;

// The Ulysses exchange over `group`, whose rank i is plan rank first_rank + i (the whole job:
// first_rank 0 and group.size() == plan.world(); the hybrid passes its Ulysses group), with
// `attend` as the local step. The kv heads each rank gets: its own slice when group.size()
// divides n_kv_heads (GQA stays grouped), else one copy per query head (then the local problem
// is multi-head, and k, v carry H/U heads). Errors: as ulysses_attention, and `attend`'s.
StatusOr<BlockResult> ulysses_exchange(comm::Communicator& group, const comm::PartitionPlan& plan,
                                       int first_rank, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const Positions& positions, uint32_t layer,
                                       DistStats& stats, const comm::RecordLayout* layout,
                                       const HeadSliceAttention& attend);

}  // namespace ringmaster::attention
