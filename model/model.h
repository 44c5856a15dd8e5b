// model/model.h: a loaded model (config, weights, mixers) and MODEL.md's forward pass over one
// rank's shard of the token stream.
//
//   x = embed[tokens]
//   for each block i:  x += Mixer_i(RMSNorm(x, norm1));  x += MLP(RMSNorm(x, norm2))
//   hf = RMSNorm(x, norm);  logits = head hf
// The residual stream x is [n_local, d_model], held by ctx.layers (model/layer_backend.h: host
// memory, or a GPU's with --device cuda) with the norms and MLPs; the mixers take and give host
// rows. Mixers and MLPs run token-tiled, so the rank's peak memory is a small multiple of
// n_local x d_model plus one tile's [tile, mlp_hidden] and [tile, vocab] scratch per thread.
//
// Ownership: a Model owns its weights (views of the mapped safetensors file, widened to f32
// where stored narrower; in bf16 compute the GEMM matrices are bf16, as mapped when stored so)
// and its Mixers. In a model with fit blocks it also owns the latent
// stream (model/fit_stream.h), shared with the fit mixers: forward begins it before the first fit
// block and ends it after the last. Thread-compatible: one forward at a time.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/decode.h"
#include "model/layers.h"
#include "model/mixer.h"
#include "model/safetensors.h"
#include "model/shard.h"

namespace ringmaster::model {

class FitStream;

// Called after each block with (block index, blocks in total).
using ProgressFn = std::function<void(int block, int num_blocks)>;

class Model {
 public:
  // Loads DIR/config.json and DIR/weights.safetensors and checks them against each other.
  // Errors name the file and the place (key, tensor, byte offset). `compute` (kF32 or kBf16) is
  // the dtype the projection, MLP and head products read (WeightFile::gemm_operand); the
  // attention products follow the ShardContext's backend.
  static StatusOr<Model> load(const std::string& dir, DType compute = DType::kF32);

  const ModelConfig& config() const { return config_; }

  // OK while weights.safetensors is the file loaded, unmodified (WeightFile::check_unchanged):
  // the weights are mapped, so a file edited during the job changes them under the forward
  // pass. Errors: kFailedPrecondition naming the file and what changed.
  Status check_weights_unchanged() const {
    return WeightFile::check_unchanged(weights_path_, weights_stamp_);
  }

  // The final hidden states hf [n_local, d_model] of this rank's tokens (`token_ids` in local
  // order, <bos> included). Collective: every rank of ctx.comm calls it. Once ctx.stop is
  // requested it returns kCancelled within a tile or a data-plane poll (core/cancel.h).
  StatusOr<Tensor> forward(const ShardContext& ctx, std::span<const int32_t> token_ids,
                           const ProgressFn& progress = nullptr);

  // Waits for the transfers the last forward left in flight (Mixer::finish_sends): before the
  // model is destroyed, and before a rank decodes on its own while its peers still run forward.
  Status finish_sends(const ShardContext& ctx);

  // One decode step (model/decode.h) after a forward with ctx.keep_caches: hf [step.num_local(),
  // d_model] of this rank's rows, whose token ids (the fed tokens) are `ids`. Collective: every
  // rank calls it for every step, with the context of that forward. A causal model only.
  StatusOr<Tensor> append(const ShardContext& ctx, const DecodeStep& step,
                          std::span<const int32_t> ids);

  // Whether a decode step exchanges anything between ranks: only attention blocks read other
  // ranks' caches (split-K); every other block decodes on the record's tail rank alone.
  bool decode_is_collective() const;

  // logits [n, V] = head hf for rows hf [n, d_model].
  void logits(const float* hf, int64_t n, float* out) const { linear(hf, n, head_, out); }

  // out[i] = log softmax(head hf_i)[next_ids[i]] in nats, for rows whose next_ids[i] >= 0;
  // other rows are left untouched. Token-tiled: no [n, vocab] buffer.
  void score(const Tensor& hf, std::span<const int32_t> next_ids, float* out,
             ThreadPool& pool) const;

 private:
  struct Block {
    Tensor norm1, norm2;
    MlpWeights mlp;
    std::unique_ptr<Mixer> mixer;
  };

  Model() = default;
  // x [ids, d_model] = embed[ids]; kInvalidArgument for an id outside the vocabulary.
  StatusOr<Tensor> embed(std::span<const int32_t> ids) const;
  // The second half of block b over x [n, d]: x += mixed, then x += MLP(RMSNorm(x, norm2)).
  Status add_residuals(const ShardContext& ctx, size_t b, Tensor& x, const Tensor& mixed) const;

  ModelConfig config_;
  std::string weights_path_;
  FileStamp weights_stamp_;     // weights_path_ when loaded
  Tensor embed_, head_, norm_;  // [V, d], [V, d], [d]
  std::vector<Block> blocks_;
  std::shared_ptr<FitStream> fit_stream_;  // null without fit blocks
  int first_fit_ = -1, last_fit_ = -1;     // block indices of the first and last fit block
};

}  // namespace ringmaster::model
