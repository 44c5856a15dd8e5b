// memory/atlas.h: the ATLAS memory of one head (MODEL.md "atlas mixer"): the chain of chunk
// updates that reads and trains a deep memory M(u) = W2 silu(W1 u) as the sequence goes by.
//
// Per chunk C = positions [c0, c1) of one record (chunks of `chunk` positions from position 0):
//   READ  y_t = M(phi(q_t)) at the start state, for t in C
//   LOSS  sum over i in [max(0, c0 - omega + 1), c1) of gamma_i n_i |M(phi(k_i)) - v_i|^2,
//         n_i = #{t in C : i <= t <= i + omega - 1}   (the Omega window, earlier chunks included,
//         evaluated at the current start state)
//   GRAD  (G1, G2) of that loss at the start state (memory/omega.h)
//   S = mom S + G;   W = keep W - lr NS5(S)             (memory/newton_schulz.h)
// keep, lr, mom are per chunk (from the chunk's mean row; the mixer computes them), gamma per
// token. Everything inside a chunk is a handful of GEMMs; chunks form a chain.
//
// HeadState is the whole chain state at a chunk boundary: the fast weights, their momentum and
// the Omega window tail (the last omega - 1 tokens before the boundary, which the next chunks'
// losses still read). It is exactly what one rank hands to the next (pack_states), so a chain
// split across ranks at chunk boundaries computes the same numbers as one rank.
//
// Thread-safety: functions are pure; one HeadState and one AtlasScratch per thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "memory/omega.h"

namespace ringmaster::memory {

struct AtlasShape {
  int64_t head_dim = 0;       // d_v, and the width of q and k before phi
  int64_t memory_hidden = 0;  // hidden width of M
  int feature_degree = 1;     // phi: 1 or 2
  int64_t chunk = 0;          // positions per update
  int64_t omega_window = 0;   // tokens each loss term looks back over (>= 1)

  int64_t d_phi() const;
  MemoryDims dims() const { return {d_phi(), memory_hidden, head_dim}; }
  // Tokens of window tail carried across a boundary at `position`: min(omega - 1, position).
  int64_t tail_at(int64_t position) const;
};

struct HeadState {
  std::vector<float> w1, s1;  // [memory_hidden, d_phi]
  std::vector<float> w2, s2;  // [head_dim, memory_hidden]
  // The window tail, oldest first: l2-normalised keys (phi is applied on use), values, gammas.
  int64_t tail = 0;
  std::vector<float> tail_k, tail_v;  // [tail, head_dim]
  std::vector<float> tail_gamma;      // [tail]
};

// The state at position 0 of a record: W = (w1_init, w2_init), S = 0, no tail.
HeadState initial_state(const AtlasShape& shape, const float* w1_init, const float* w2_init);

struct ChunkGates {
  float keep = 0, lr = 0, mom = 0;
};

// One head's inputs over consecutive positions [first_pos, first_pos + len) of one record.
// Rows are strided (they are column slices of the mixer's projection). q and k are already
// l2-normalised; the output rows y receive M(phi(q_t)).
struct HeadRun {
  int64_t first_pos = 0, len = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* gamma = nullptr;
  int64_t ld = 0;      // row stride of q, k, v and gamma
  float* y = nullptr;  // [len, head_dim]
  int64_t ld_y = 0;
  std::span<const ChunkGates> gates;  // one per chunk of the run, in order
};

// Per-thread buffers, grown on first use.
struct AtlasScratch {
  std::vector<float> u, v, weight, uq, g1, g2, n1, n2, work, ns;
};

// Advances `state` (at position run.first_pos) over the run's chunks, writing y.
// REQUIRES: first_pos is a multiple of chunk; state.tail == shape.tail_at(first_pos); the run
// ends at a chunk boundary or at the record's end; one gate per chunk.
void run_head(const AtlasShape& shape, HeadState& state, const HeadRun& run, AtlasScratch& scratch);

// The window-tail half of run_head: replaces state's tail (at run.first_pos) with the one at the
// run's end, read from the old tail and the run's rows. The CUDA chain (memory/cuda/) advances
// the weights on the device and the tail here, so both keep the same tail.
void advance_tail(const AtlasShape& shape, HeadState& state, const HeadRun& run);

// Floats of pack_states for `heads` heads at a boundary at `position`.
int64_t state_floats(const AtlasShape& shape, int64_t heads, int64_t position);
// Serialises the states of all heads (head by head: w1, w2, s1, s2, tail k, v, gamma) into
// out[state_floats]; unpack_states is its inverse. REQUIRES: every tail == tail_at(position).
void pack_states(std::span<const HeadState> states, float* out);
void unpack_states(const AtlasShape& shape, int64_t position, const float* in,
                   std::span<HeadState> states);

}  // namespace ringmaster::memory
