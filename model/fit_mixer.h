// model/fit_mixer.h: MODEL.md's `fit` mixer (FIT: READ, GLOBAL layers, WRITE over a latent
// stream), distributed as ALGORITHMS.md 5.6 option A.
//
// Per block, on every rank:
//   READ    this rank's groups: lat[g] += Attn(RMSNorm(lat[g]), RMSNorm(h_g))      local
//   share   all_gather of the updated latents (FitStream::share)                  G*m*d floats
//   GLOBAL  the global layers over all G*m latents of the job, redundantly on every rank:
//           rope at the group index, masked by record, chunk-causal in causal models
//   WRITE   this rank's tokens: out_g = Attn(RMSNorm(h_g), RMSNorm(src[g]))     local
//           src[g] = lat[g-1] (causal; no source and zero output for a record's first group)
//           or lat[g] (bidirectional); after the gather every rank holds lat[g-1].
// READ and WRITE run one group per task (cross-attention of m latents with one group's tokens),
// the projections and MLPs token-tiled with sgemm.
//
// The mixer updates the FitStream it shares with the Model (and the other fit mixers); the Model
// begins the stream before the first fit block and ends it after the last. Thread-compatible.
#pragma once

#include <memory>
#include <vector>

#include "model/fit_stream.h"
#include "model/layers.h"
#include "model/mixer.h"

namespace ringmaster::model {

// The tensors of one fit block (MODEL.md "Tensor names": blocks.i.read.*, global.j.*, write.*),
// all f32; norms are [d_model].
struct FitWeights {
  struct Global {
    Tensor norm1, norm2;
    AttnWeights attn;
    MlpWeights mlp;
  };
  Tensor read_norm_q, read_norm_kv;
  AttnWeights read;
  std::vector<Global> global;  // global_layers entries
  Tensor write_norm_q, write_norm_kv;
  AttnWeights write;
};

// REQUIRES: `stream` outlives the mixer and is begun before each forward.
std::unique_ptr<Mixer> make_fit_mixer(FitWeights w, AttnShape shape, bool causal, float norm_eps,
                                      std::shared_ptr<FitStream> stream);

}  // namespace ringmaster::model
