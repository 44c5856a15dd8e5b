// model/atlas_mixer.h: MODEL.md's `atlas` mixer, the ATLAS memory (memory/atlas.h) wired to a
// rank's shard and its peers.
//
// Per layer, each rank (1) posts a receive for the incoming state of every piece of a chain that
// starts on another rank (model/atlas_chain.h), (2) runs its pieces, earliest first among those
// whose start state is at hand (a record that starts here, or whose state has arrived), so a rank
// waiting on one record works on another, each piece in cache-sized blocks of whole chunks:
//   [q | k | v | gamma] = h [wq; wk; wv; w_gates[3]]^T   (one GEMM; l2norm on q, k; sigmoid)
//   y = the memory chain of every head (memory/atlas.h; heads in parallel on ctx.pool)
//   out = wo concat_e(y_e)
// and (3) sends each piece's end state (W1 W2 S1 S2 and the Omega window tail of every head,
// memory/atlas.h pack_states) to the owner of the record's next token without waiting: the rank
// goes on to its MLP and next layer while the state travels, which over consecutive atlas blocks
// makes the (layer, shard) cells a wavefront (ALGORITHMS.md 6.13), rank r on layer l while rank
// r+1 is on layer l-1. Buffers are per block, so a layer's memory does not grow with the shard.
//
// Messages: Tag{layer, record mod 2^24, kAtlasStateKind}; each ordered pair of ranks carries at
// most one state per record and layer (chains go out and back at most once), and same-tag
// messages arrive in order. The send buffers stay with the mixer until the send completes: the
// mixer drops finished sends after each forward and waits for the rest at its next forward.
// Thread-compatible (one forward at a time); heads run in parallel on ctx.pool.
#pragma once

#include <memory>
#include <string>

#include "memory/atlas.h"
#include "model/config.h"
#include "model/mixer.h"
#include "model/safetensors.h"

namespace ringmaster::model {

// Message kind of the atlas state hand-off (ring 1, ulysses 2-8, halo 20-21).
inline constexpr uint8_t kAtlasStateKind = 40;

// blocks.i.atlas.*, f32: wq, wk, wv [n_heads*head_dim, d]; wo [d, n_heads*head_dim];
// w_gates [4*n_heads, d] and b_gates [4*n_heads] (row g*n_heads + e: gate g of head e; 0 keep,
// 1 lr, 2 mom, 3 gamma); w1_init [n_heads, memory_hidden, d_phi]; w2_init [n_heads, head_dim,
// memory_hidden].
struct AtlasWeights {
  Tensor wq, wk, wv, wo, w_gates, b_gates, w1_init, w2_init;
};

// REQUIRES: the weights have the shapes above for `n_heads` and `shape`.
std::unique_ptr<Mixer> make_atlas_mixer(AtlasWeights w, int64_t n_heads,
                                        const memory::AtlasShape& shape);

// The mixer of block `b` with its tensors under `prefix` (".../blocks.i.atlas") of `file`.
// REQUIRES: file.check_against(c) passed.
std::unique_ptr<Mixer> make_atlas_mixer(const ModelConfig& c, const BlockConfig& b,
                                        const WeightFile& file, const std::string& prefix);

}  // namespace ringmaster::model
