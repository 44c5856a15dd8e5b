// attention/ring.h: exact attention over a sequence split across the ranks of a Communicator,
// with K/V blocks passed round the ring (ring.cc opens with the step schedule).
//
// Each rank holds the Q, K, V rows of the tokens the PartitionPlan gives it (any plan:
// contiguous, zigzag, striped) and their positions; the result is that rank's rows of full
// attention over the whole sequence, equal to attend_block on the whole sequence.
// Thread-compatible: one call at a time per Communicator.
#pragma once

#include <cstdint>

#include "attention/attention.h"
#include "attention/backend.h"
#include "comm/communicator.h"
#include "comm/partition.h"

namespace ringmaster::attention {

// Where one rank's time went, for bench ring.
struct DistStats {
  double compute_s = 0;  // attend_block and merge_into
  double wait_s = 0;     // blocked on transfers
  int64_t bytes_sent = 0;
};

// q: [n_local, n_heads, head_dim]; k, v: [n_local, n_kv_heads, head_dim] (f32); `positions`
// the n_local tokens' positions and sequence ids; n_local = plan.num_local(comm.rank()).
// Blocks compute on `backend`. k and v on the host (the ring's buffers are host memory) or both
// on backend.device() (then so are the buffers, and `comm` must carry device memory); q where
// they are or on backend.device(), and the result where q is. `layer` keeps the transfers of
// different layers apart. `layout`, when given, is the records `positions` come from (positions
// within records, record ids as sequence ids): every block received is then checked against what
// plan and layout give its source (attention/received_positions.h); without it, received positions
// are trusted as AuthenticatedComm delivered them. Errors: shape/plan mismatch (kInvalidArgument),
// a backend failure, a peer's failure or a step past its deadline (from the Communicator), a
// received block whose positions are not its source's (kDataLoss naming the source rank, layer and
// step).
StatusOr<BlockResult> ring_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                     const Tensor& q, const Tensor& k, const Tensor& v,
                                     const Positions& positions, const MaskSpec& mask,
                                     AttentionBackend& backend, uint32_t layer,
                                     DistStats* stats = nullptr,
                                     const comm::RecordLayout* layout = nullptr);

}  // namespace ringmaster::attention
