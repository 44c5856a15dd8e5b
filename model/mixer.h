// model/mixer.h: the token mixers of MODEL.md's blocks, behind one interface.
//
// A Mixer turns this rank's normalised rows h [n_local, d_model] into out [n_local, d_model],
// talking to other ranks only through ctx.comm. h and out are host rows, or rows on
// ctx.layers->device() for a mixer that takes_device_rows(). Every rank calls forward for the same
// block in the same order (the mixers' transfers are collective). `layer` (the block index) keeps
// the transfers of different blocks apart. Weights are f32 host tensors owned by the Mixer.
// Thread-compatible.
#pragma once

#include <memory>

#include "core/status.h"
#include "core/tensor.h"
#include "model/decode.h"
#include "model/shard.h"

namespace ringmaster::model {

class Mixer {
 public:
  virtual ~Mixer() = default;
  virtual Status forward(const ShardContext& ctx, const Tensor& h, Tensor& out, uint32_t layer) = 0;

  // Whether forward and append accept h and out on ctx.layers->device() (a GPU's memory), so the
  // block's rows need not cross to the host. False: host rows only.
  virtual bool takes_device_rows() const { return false; }

  // One decode step (model/decode.h): h holds this rank's rows of `step` [step.num_local(),
  // d_model]; out receives their outputs. Reads and extends the caches the last forward kept
  // (ctx.keep_caches); a causal model only. Collective like forward: every rank calls it for
  // every block of every step, with the same context as that forward.
  virtual Status append(const ShardContext& ctx, const DecodeStep& step, const Tensor& h,
                        Tensor& out, uint32_t layer) = 0;

  // Waits for the transfers forward left in flight (the atlas mixer sends its end states without
  // waiting). Call it before the mixer is destroyed or the rank stops talking to its peers.
  virtual Status finish_sends(const ShardContext& /*ctx*/) { return ok_status(); }
};

// Projections of MODEL.md's Attn: wq [n_heads*head_dim, d], wk, wv [n_kv_heads*head_dim, d],
// wo [d, n_heads*head_dim], all f32.
struct AttnWeights {
  Tensor wq, wk, wv, wo;
};

struct AttnShape {
  int64_t n_heads, n_kv_heads, head_dim;
  double rope_theta;
};

// `attention`: global attention, causal or not, distributed as ctx.context_parallel says.
std::unique_ptr<Mixer> make_attention_mixer(AttnWeights w, AttnShape shape, bool causal);
// `window`: sliding window of `window` tokens; only the halo crosses ranks.
std::unique_ptr<Mixer> make_window_mixer(AttnWeights w, AttnShape shape, bool causal,
                                         int64_t window);
// `local`: FIT local layer over groups of `group` positions; no traffic when groups are aligned.
std::unique_ptr<Mixer> make_local_mixer(AttnWeights w, AttnShape shape, bool causal, int64_t group);

}  // namespace ringmaster::model
