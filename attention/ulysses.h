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

#include "attention/ring.h"

namespace ringmaster::attention {

StatusOr<BlockResult> ulysses_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                        const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Positions& positions, const MaskSpec& mask,
                                        AttentionBackend& backend, uint32_t layer,
                                        DistStats* stats = nullptr,
                                        const comm::RecordLayout* layout = nullptr);

}  // namespace ringmaster::attention
