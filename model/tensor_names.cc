#include "model/tensor_names.h"

namespace ringmaster::model {
namespace {

// Appends `prefix`.{wq,wk,wv,wo} with MODEL.md's "Attention" shapes (GQA: wk and wv have
// n_kv_heads heads).
void add_attention(const ModelConfig& c, const std::string& prefix, std::vector<TensorSpec>& out) {
  out.push_back({prefix + ".wq", {c.q_dim(), c.d_model}});
  out.push_back({prefix + ".wk", {c.kv_dim(), c.d_model}});
  out.push_back({prefix + ".wv", {c.kv_dim(), c.d_model}});
  out.push_back({prefix + ".wo", {c.d_model, c.q_dim()}});
}

void add_mlp(const ModelConfig& c, const std::string& prefix, std::vector<TensorSpec>& out) {
  out.push_back({prefix + ".w_gate", {c.mlp_hidden, c.d_model}});
  out.push_back({prefix + ".w_up", {c.mlp_hidden, c.d_model}});
  out.push_back({prefix + ".w_down", {c.d_model, c.mlp_hidden}});
}

void add_fit(const ModelConfig& c, const BlockConfig& b, const std::string& prefix,
             std::vector<TensorSpec>& out) {
  out.push_back({prefix + ".read.norm_q", {c.d_model}});
  out.push_back({prefix + ".read.norm_kv", {c.d_model}});
  add_attention(c, prefix + ".read", out);
  for (int64_t j = 0; j < b.global_layers; ++j) {
    const std::string layer = prefix + ".global." + std::to_string(j);
    out.push_back({layer + ".norm1", {c.d_model}});
    out.push_back({layer + ".norm2", {c.d_model}});
    add_attention(c, layer + ".attn", out);
    add_mlp(c, layer + ".mlp", out);
  }
  out.push_back({prefix + ".write.norm_q", {c.d_model}});
  out.push_back({prefix + ".write.norm_kv", {c.d_model}});
  add_attention(c, prefix + ".write", out);
}

void add_atlas(const ModelConfig& c, const BlockConfig& b, const std::string& prefix,
               std::vector<TensorSpec>& out) {
  // Memory heads are the n_heads query heads; n_kv_heads does not apply to ATLAS.
  const int64_t width = c.n_heads * c.head_dim;
  const int64_t d_phi = atlas_d_phi(c.head_dim, b.feature_degree);
  out.push_back({prefix + ".wq", {width, c.d_model}});
  out.push_back({prefix + ".wk", {width, c.d_model}});
  out.push_back({prefix + ".wv", {width, c.d_model}});
  out.push_back({prefix + ".wo", {c.d_model, width}});
  // Row g * n_heads + e holds gate g (keep, lr, mom, gamma) of head e.
  out.push_back({prefix + ".w_gates", {4 * c.n_heads, c.d_model}});
  out.push_back({prefix + ".b_gates", {4 * c.n_heads}});
  out.push_back({prefix + ".w1_init", {c.n_heads, b.memory_hidden, d_phi}});
  out.push_back({prefix + ".w2_init", {c.n_heads, c.head_dim, b.memory_hidden}});
}

}  // namespace

int64_t atlas_d_phi(int64_t head_dim, int64_t feature_degree) {
  return feature_degree == 2 ? head_dim + head_dim * head_dim : head_dim;
}

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  const int64_t vocab = c.vocab_size();
  out.push_back({"embed", {vocab, c.d_model}});
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockConfig& b = c.blocks[i];
    const std::string prefix = "blocks." + std::to_string(i);
    out.push_back({prefix + ".norm1", {c.d_model}});
    out.push_back({prefix + ".norm2", {c.d_model}});
    add_mlp(c, prefix + ".mlp", out);
    switch (b.mixer) {
      case MixerKind::kAttention:
      case MixerKind::kWindow:
      case MixerKind::kLocal:
        add_attention(c, prefix + ".attn", out);
        break;
      case MixerKind::kFit:
        add_fit(c, b, prefix, out);
        break;
      case MixerKind::kAtlas:
        add_atlas(c, b, prefix + ".atlas", out);
        break;
    }
  }
  out.push_back({"norm", {c.d_model}});
  out.push_back({"head", {vocab, c.d_model}});
  // One latent initialisation shared by every fit block (MODEL.md: the stream starts at the
  // first fit block as fit.latents and is carried through the later ones).
  if (c.has_fit()) {
    int64_t latents = 0;
    for (const BlockConfig& b : c.blocks) {
      if (b.mixer == MixerKind::kFit) latents = b.latents;
    }
    out.push_back({"fit.latents", {latents, c.d_model}});
  }
  return out;
}

}  // namespace ringmaster::model
