#include "model/flops.h"

#include <algorithm>
#include <cmath>

namespace ringmaster::model {
namespace {

// Visible keys summed over the queries of one record of n tokens: the mask's area.
double visible_pairs(const BlockConfig& b, bool causal, double n) {
  switch (b.mixer) {
    case MixerKind::kAttention:
      return causal ? n * (n + 1) / 2 : n * n;
    case MixerKind::kWindow: {
      const double w = std::min(static_cast<double>(b.window), n);
      return causal ? n * w - w * (w - 1) / 2 : n * (2 * w - 1) - w * (w - 1);
    }
    case MixerKind::kLocal: {
      const double g = std::min(static_cast<double>(b.group), n);
      return causal ? n * (g + 1) / 2 : n * g;
    }
    default:
      return 0;
  }
}

// One attention: q_rows queries over kv_rows keys/values with `pairs` visible pairs.
double attention_flops(const ModelConfig& c, double q_rows, double kv_rows, double pairs) {
  const auto d = static_cast<double>(c.d_model), q = static_cast<double>(c.q_dim()),
             kv = static_cast<double>(c.kv_dim());
  return 2 * q_rows * d * q * 2 + 2 * kv_rows * d * kv * 2 + 4 * pairs * q;
}

double mlp_flops(const ModelConfig& c, double rows) {
  return 2 * rows * 3 * static_cast<double>(c.d_model) * static_cast<double>(c.mlp_hidden);
}

double fit_flops(const ModelConfig& c, const BlockConfig& b, double n) {
  const double groups = std::ceil(n / static_cast<double>(b.group));
  const auto m = static_cast<double>(b.latents), latents = groups * m;
  // READ: latents over their group's tokens; WRITE: tokens over one group's latents.
  double flops = attention_flops(c, latents, n, latents * static_cast<double>(b.group)) +
                 attention_flops(c, n, latents, n * m);
  const double global_pairs = c.causal ? m * m * groups * (groups + 1) / 2 : latents * latents;
  flops += static_cast<double>(b.global_layers) *
           (attention_flops(c, latents, latents, global_pairs) + mlp_flops(c, latents));
  return flops;
}

double atlas_flops(const ModelConfig& c, const BlockConfig& b, double n) {
  const auto d = static_cast<double>(c.d_model), heads = static_cast<double>(c.n_heads),
             hd = static_cast<double>(c.head_dim), hidden = static_cast<double>(b.memory_hidden);
  const double d_phi = b.feature_degree == 2 ? hd + hd * hd : hd;
  const double memory = 2 * (hidden * d_phi + hd * hidden);  // one M(u) per head
  const double chunks = std::ceil(n / static_cast<double>(b.chunk));
  const double terms = std::min(n, chunks * static_cast<double>(b.chunk + b.omega_window - 1));
  // NS5 on [rows, cols] with r = min: 5 x (X X^T, A A, B X).
  auto ns5 = [](double rows, double cols) {
    const double r = std::min(rows, cols), s = std::max(rows, cols);
    return 5 * (2 * r * r * s + 2 * r * r * r + 2 * r * r * s);
  };
  return 2 * n * d * (4 * heads * hd) + 2 * n * d * 4 * heads  // q, k, v, wo; gates
         + heads * (n * memory + terms * 3 * memory)           // read; loss forward + backward
         + chunks * heads * (ns5(hidden, d_phi) + ns5(hd, hidden));
}

}  // namespace

double forward_flops(const ModelConfig& config, std::span<const int64_t> record_lengths,
                     bool logits) {
  double flops = 0;
  for (const int64_t length : record_lengths) {
    const auto n = static_cast<double>(length);
    for (const BlockConfig& b : config.blocks) {
      flops += mlp_flops(config, n);
      switch (b.mixer) {
        case MixerKind::kFit:
          flops += fit_flops(config, b, n);
          break;
        case MixerKind::kAtlas:
          flops += atlas_flops(config, b, n);
          break;
        default:
          flops += attention_flops(config, n, n, visible_pairs(b, config.causal, n));
      }
    }
    if (logits) {
      flops +=
          2 * n * static_cast<double>(config.d_model) * static_cast<double>(config.vocab_size());
    }
  }
  return flops;
}

}  // namespace ringmaster::model
