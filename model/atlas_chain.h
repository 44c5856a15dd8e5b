// model/atlas_chain.h: where one rank's pieces of the ATLAS state chains come from and go to.
//
// Each record's memory state runs left to right from its <bos> through every chunk
// (MODEL.md "atlas mixer"). A plan cuts the record into pieces owned by ranks; the state leaves
// the rank owning one piece for the rank owning the next, once per atlas layer:
//   contiguous: rank 0 -> 1 -> ... -> P-1
//   zigzag:     out and back (ALGORITHMS.md 9.1): rank 0's first half, rank 1's first half, ...,
//               rank P-1's two halves (one piece, no message), ..., rank 0's second half
//   striped:    every stripe would hand the state on: refused.
// A piece is a maximal run of this rank's tokens that are consecutive in one record, so one
// rank's adjacent chunks form one piece. Cuts inside a record must fall on chunk boundaries
// (the coordinator aligns the plan to the atlas chunk); a piece boundary elsewhere is an error.
// Pure function of the context; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "model/shard.h"

namespace ringmaster::model {

struct ChainPiece {
  int32_t record = 0;
  int64_t local_begin = 0;  // first local token index (ctx.tokens order)
  int64_t len = 0;          // tokens
  int64_t first_pos = 0;    // position of the first token within its record
  int prev_rank = -1;       // owner of the record's previous token; -1 when first_pos == 0
  int next_rank = -1;       // owner of the record's next token; -1 at the record's end
  // Plan chunks of the record before this piece (0 when it starts the record): an upper bound
  // on the hops the state makes before it reaches this piece, which scales how long this rank
  // may wait for it (the first layer's wavefront fills one hop at a time).
  int64_t hops = 0;
};

// This rank's pieces in local (stream) order. Errors (kFailedPrecondition, naming the record
// and the position): a striped plan, or a cut inside a record off a multiple of `chunk`.
StatusOr<std::vector<ChainPiece>> chain_pieces(const ShardContext& ctx, int64_t chunk);

}  // namespace ringmaster::model
