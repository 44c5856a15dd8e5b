#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cancel.h"
#include "model/atlas_mixer.h"
#include "model/fit_mixer.h"
#include "model/safetensors.h"

namespace ringmaster::model {
namespace {

// The projection and MLP matrices are GEMM operands in the compute dtype (linear() runs bf16
// products on bf16 weights); norms, embeddings, latents and the ATLAS weights stay f32.
AttnWeights attn_weights(const WeightFile& file, const std::string& prefix, DType compute) {
  return {file.gemm_operand(prefix + ".wq", compute), file.gemm_operand(prefix + ".wk", compute),
          file.gemm_operand(prefix + ".wv", compute), file.gemm_operand(prefix + ".wo", compute)};
}

MlpWeights mlp_weights(const WeightFile& file, const std::string& prefix, DType compute) {
  return {file.gemm_operand(prefix + ".w_gate", compute),
          file.gemm_operand(prefix + ".w_up", compute),
          file.gemm_operand(prefix + ".w_down", compute)};
}

FitWeights fit_weights(const WeightFile& file, const std::string& prefix, int64_t global_layers,
                       DType compute) {
  FitWeights w{.read_norm_q = file.f32(prefix + ".read.norm_q"),
               .read_norm_kv = file.f32(prefix + ".read.norm_kv"),
               .read = attn_weights(file, prefix + ".read", compute),
               .global = {},
               .write_norm_q = file.f32(prefix + ".write.norm_q"),
               .write_norm_kv = file.f32(prefix + ".write.norm_kv"),
               .write = attn_weights(file, prefix + ".write", compute)};
  for (int64_t j = 0; j < global_layers; ++j) {
    const std::string layer = prefix + ".global." + std::to_string(j);
    w.global.push_back({file.f32(layer + ".norm1"), file.f32(layer + ".norm2"),
                        attn_weights(file, layer + ".attn", compute),
                        mlp_weights(file, layer + ".mlp", compute)});
  }
  return w;
}

StatusOr<std::unique_ptr<Mixer>> make_mixer(const ModelConfig& c, const BlockConfig& b,
                                            const WeightFile& file, const std::string& prefix,
                                            const std::string& source,
                                            const std::shared_ptr<FitStream>& fit_stream,
                                            DType compute) {
  const AttnShape shape{c.n_heads, c.n_kv_heads, c.head_dim, c.rope_theta};
  switch (b.mixer) {
    case MixerKind::kAttention:
      return make_attention_mixer(attn_weights(file, prefix + ".attn", compute), shape, c.causal);
    case MixerKind::kWindow:
      return make_window_mixer(attn_weights(file, prefix + ".attn", compute), shape, c.causal,
                               b.window);
    case MixerKind::kLocal:
      return make_local_mixer(attn_weights(file, prefix + ".attn", compute), shape, c.causal,
                              b.group);
    case MixerKind::kFit:
      return make_fit_mixer(fit_weights(file, prefix, b.global_layers, compute), shape, c.causal,
                            static_cast<float>(c.norm_eps), fit_stream);
    case MixerKind::kAtlas:
      return make_atlas_mixer(c, b, file, prefix + ".atlas");
  }
  return invalid_argument(source + ": " + prefix + ": unknown mixer kind " +
                          std::to_string(static_cast<int>(b.mixer)));
}

// Each block's mixer input h and output `mixed`, f32 [n, d]: host rows, or rows on the layer
// backend's device for a mixer that takes them there. Each pair is made on first use and reused
// by the later blocks, so a job whose mixers all take device rows holds no host pair.
class BlockRows {
 public:
  BlockRows(LayerBackend& layers, int64_t n, int64_t d) : layers_(layers), shape_{n, d} {}

  struct Pair {
    Tensor& h;
    Tensor& mixed;
  };

  StatusOr<Pair> for_mixer(const Mixer& mixer) {
    const bool on_device = mixer.takes_device_rows() && !layers_.device().is_cpu();
    Tensor* pair = on_device ? device_ : host_;
    for (int i = 0; i < 2 && !pair[i].defined(); ++i) {
      if (on_device) {
        RM_ASSIGN_OR_RETURN(pair[i], layers_.empty(shape_, DType::kF32));
      } else {
        pair[i] = Tensor::empty(shape_, DType::kF32);
      }
    }
    return Pair{pair[0], pair[1]};
  }

 private:
  LayerBackend& layers_;
  Shape shape_;
  Tensor host_[2], device_[2];
};

}  // namespace

StatusOr<Model> Model::load(const std::string& dir, DType compute) {
  if (compute != DType::kF32 && compute != DType::kBf16) {
    return invalid_argument(std::string("Model::load: compute dtype ")
                                .append(dtype_name(compute))
                                .append(" (f32 or bf16)"));
  }
  const std::string config_path = dir + "/config.json";
  const std::string weights_path = dir + "/weights.safetensors";
  RM_ASSIGN_OR_RETURN(ModelConfig config, parse_config(config_path));
  RM_ASSIGN_OR_RETURN(WeightFile file, WeightFile::open(weights_path));
  RM_RETURN_IF_ERROR(file.check_against(config));

  Model m;
  m.config_ = config;
  m.weights_path_ = weights_path;
  m.weights_stamp_ = file.stamp();
  m.embed_ = file.f32("embed");
  m.head_ = file.gemm_operand("head", compute);
  m.norm_ = file.f32("norm");
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    if (config.blocks[i].mixer != MixerKind::kFit) continue;
    if (!m.fit_stream_) {
      m.fit_stream_ = std::make_shared<FitStream>(file.f32("fit.latents"), config.blocks[i].group);
      m.first_fit_ = static_cast<int>(i);
    }
    m.last_fit_ = static_cast<int>(i);
  }
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    const std::string prefix = "blocks." + std::to_string(i);
    Block block{file.f32(prefix + ".norm1"), file.f32(prefix + ".norm2"),
                mlp_weights(file, prefix + ".mlp", compute), nullptr};
    RM_ASSIGN_OR_RETURN(block.mixer, make_mixer(config, config.blocks[i], file, prefix, config_path,
                                                m.fit_stream_, compute));
    m.blocks_.push_back(std::move(block));
  }
  return m;
}

StatusOr<Tensor> Model::forward(const ShardContext& ctx, std::span<const int32_t> token_ids,
                                const ProgressFn& progress) {
  const int64_t n = ctx.num_local(), d = config_.d_model;
  if (static_cast<int64_t>(token_ids.size()) != n) {
    return invalid_argument("forward: " + std::to_string(token_ids.size()) + " token ids for " +
                            std::to_string(n) + " local tokens");
  }
  RM_ASSIGN_OR_RETURN(Tensor rows, embed(token_ids));
  LayerBackend& layers = *ctx.layers;
  RM_ASSIGN_OR_RETURN(Tensor x, layers.load(std::move(rows)));
  BlockRows rows_of(layers, n, d);
  const auto eps = static_cast<float>(config_.norm_eps);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    Block& block = blocks_[b];
    const std::string where = "block " + std::to_string(b);
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, where));
    if (static_cast<int>(b) == first_fit_) {
      RM_RETURN_IF_ERROR(fit_stream_->begin(ctx).with_context(where));
    }
    // The block's whole time (norms, mixer, MLP) and traffic count under its kind.
    const comm::TrafficMeter::Phase phase(ctx.traffic, mixer_kind_name(config_.blocks[b].mixer));
    RM_ASSIGN_OR_RETURN(const BlockRows::Pair io, rows_of.for_mixer(*block.mixer));
    RM_RETURN_IF_ERROR(layers.mixer_input(x, block.norm1, eps, io.h).with_context(where));
    RM_RETURN_IF_ERROR(
        block.mixer->forward(ctx, io.h, io.mixed, static_cast<uint32_t>(b)).with_context(where));
    if (static_cast<int>(b) == last_fit_) fit_stream_->end();
    // A mixer may finish its last chunk as the stop lands; its rows are then not the math's.
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, where));
    RM_RETURN_IF_ERROR(add_residuals(ctx, b, x, io.mixed));
    if (progress) progress(static_cast<int>(b), static_cast<int>(blocks_.size()));
  }
  return layers.output(std::move(x), norm_, eps);
}

StatusOr<Tensor> Model::embed(std::span<const int32_t> ids) const {
  const int64_t n = static_cast<int64_t>(ids.size()), d = config_.d_model;
  Tensor x = Tensor::empty({n, d}, DType::kF32);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = ids[static_cast<size_t>(i)];
    if (id < 0 || id >= config_.vocab_size()) {
      return invalid_argument("forward: token id " + std::to_string(id) +
                              " outside the vocabulary");
    }
    std::memcpy(x.data<float>() + i * d, embed_.const_data<float>() + int64_t{id} * d,
                static_cast<size_t>(d) * sizeof(float));
  }
  return x;
}

Status Model::add_residuals(const ShardContext& ctx, size_t b, Tensor& x,
                            const Tensor& mixed) const {
  const Block& block = blocks_[b];
  return ctx.layers->add_residuals(x, mixed, block.norm2, static_cast<float>(config_.norm_eps),
                                   block.mlp, ctx.stop, "block " + std::to_string(b) + " mlp");
}

Status Model::finish_sends(const ShardContext& ctx) {
  for (Block& block : blocks_) RM_RETURN_IF_ERROR(block.mixer->finish_sends(ctx));
  return ok_status();
}

bool Model::decode_is_collective() const {
  return std::any_of(config_.blocks.begin(), config_.blocks.end(),
                     [](const BlockConfig& b) { return b.mixer == MixerKind::kAttention; });
}

StatusOr<Tensor> Model::append(const ShardContext& ctx, const DecodeStep& step,
                               std::span<const int32_t> ids) {
  const int64_t n = step.num_local(), d = config_.d_model;
  if (static_cast<int64_t>(ids.size()) != n) {
    return invalid_argument("append: " + std::to_string(ids.size()) + " token ids for " +
                            std::to_string(n) + " rows");
  }
  // A decode step's exchanges (split-K, the tail rank's work) count as one phase.
  const comm::TrafficMeter::Phase phase(ctx.traffic, "decode");
  RM_ASSIGN_OR_RETURN(Tensor rows, embed(ids));
  LayerBackend& layers = *ctx.layers;
  RM_ASSIGN_OR_RETURN(Tensor x, layers.load(std::move(rows)));
  BlockRows rows_of(layers, n, d);
  const auto eps = static_cast<float>(config_.norm_eps);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const std::string where =
        "decode step " + std::to_string(step.index) + " block " + std::to_string(b);
    RM_RETURN_IF_ERROR(check_cancelled(ctx.stop, where));
    if (static_cast<int>(b) == first_fit_) fit_stream_->begin_step(step);
    Mixer& mixer = *blocks_[b].mixer;
    RM_ASSIGN_OR_RETURN(const BlockRows::Pair io, rows_of.for_mixer(mixer));
    RM_RETURN_IF_ERROR(layers.mixer_input(x, blocks_[b].norm1, eps, io.h).with_context(where));
    RM_RETURN_IF_ERROR(
        mixer.append(ctx, step, io.h, io.mixed, static_cast<uint32_t>(b)).with_context(where));
    RM_RETURN_IF_ERROR(add_residuals(ctx, b, x, io.mixed));
  }
  return layers.output(std::move(x), norm_, eps);
}

void Model::score(const Tensor& hf, std::span<const int32_t> next_ids, float* out,
                  ThreadPool& pool) const {
  const int64_t n = hf.dim(0), d = hf.dim(1), vocab = head_.dim(0);
  const int64_t tiles = (n + kTokenTile - 1) / kTokenTile;
  pool.parallel_for(tiles, [&](int64_t t, int) {
    const int64_t begin = t * kTokenTile, rows = std::min(kTokenTile, n - begin);
    std::vector<float> logits(static_cast<size_t>(rows * vocab));
    linear(hf.data<float>() + begin * d, rows, head_, logits.data());
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t next = next_ids[static_cast<size_t>(begin + r)];
      if (next < 0) continue;
      const float* row = logits.data() + r * vocab;
      const float mx = *std::max_element(row, row + vocab);
      double sum = 0;
      for (int64_t c = 0; c < vocab; ++c) sum += std::exp(double{row[c]} - mx);
      out[begin + r] = static_cast<float>(double{row[next]} - mx - std::log(sum));
    }
  });
}

}  // namespace ringmaster::model
