// model/config.h: ModelConfig, the architecture in a model directory's config.json, and its
// strict parser, writer and size helpers.
//
// The schema is MODEL.md's "config.json", exactly: every key is required (no defaults), any
// other key is an error (it is usually a typo), and every error names the file and the place
// ("config.json: blocks[2]: unknown key 'windw'"). On top of MODEL.md's rules the parser
// enforces sanity caps so that no later size computation can overflow:
//   - every integer field is at most kMaxConfigInt (2^31 - 1);
//   - blocks plus FIT global layers number at most kMaxLayers (4096);
//   - the model has at most kMaxParams (2^34, about 17.2 G) parameters: 64 GiB once widened to
//     f32, which is what each worker holds (MODEL.md widens every weight at load);
//   - norm_eps and rope_theta are finite and > 0 (RMSNorm of a zero row and rope need them).
// A ModelConfig is a plain value; every function here is pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/tokens.h"

namespace ringmaster::model {

inline constexpr std::string_view kModelFormat = "ringmaster-model/1";
inline constexpr int64_t kMaxConfigInt = 2147483647;  // 2^31 - 1
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxParams = int64_t{1} << 34;

// MODEL.md "Vocabularies": one definition, io's, shared by the reader that produces ids and the
// model that embeds them.
using io::Vocab;

enum class MixerKind : uint8_t { kAttention, kWindow, kLocal, kFit, kAtlas };
const char* mixer_kind_name(MixerKind kind);  // "attention", "window", "local", "fit", "atlas"

// One entry of "blocks". Only the fields of `mixer`'s kind are meaningful; the others stay 0:
//   attention: none      window: window        local: group
//   fit: group, latents, global_layers         atlas: chunk, omega_window, memory_hidden,
//                                                     feature_degree
struct BlockConfig {
  MixerKind mixer = MixerKind::kAttention;
  int64_t window = 0;          // >= 1: keys within `window` positions are visible
  int64_t group = 0;           // >= 1: tokens per FIT group
  int64_t latents = 0;         // >= 1: latents per FIT group
  int64_t global_layers = 0;   // >= 0: FIT global layers over the latents
  int64_t chunk = 0;           // >= 1: positions per ATLAS memory update
  int64_t omega_window = 0;    // >= 1: tokens each ATLAS loss term looks back over
  int64_t memory_hidden = 0;   // >= 1: hidden width of the ATLAS memory MLP
  int64_t feature_degree = 0;  // 1 or 2: ATLAS feature map phi

  bool operator==(const BlockConfig&) const = default;
};

struct ModelConfig {
  std::string format{kModelFormat};
  Vocab vocab = Vocab::kDna;
  int64_t d_model = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // n_heads is a multiple of it (GQA)
  int64_t head_dim = 0;    // even (rope rotates halves)
  int64_t mlp_hidden = 0;
  double norm_eps = 0.0;
  double rope_theta = 0.0;
  bool causal = true;
  std::vector<BlockConfig> blocks;  // may be empty

  int64_t vocab_size() const { return io::vocab_size(vocab); }
  int64_t q_dim() const { return n_heads * head_dim; }      // rows of wq, columns of wo
  int64_t kv_dim() const { return n_kv_heads * head_dim; }  // rows of wk and wv
  bool has_fit() const;

  bool operator==(const ModelConfig&) const = default;
};

// Reads and parses `path` (config.json). Errors name `path`; a file over 1 MiB is refused
// before parsing (real configs are a few hundred bytes).
StatusOr<ModelConfig> parse_config(const std::string& path);

// Parses config text; `source_name` (usually the path) starts every error message. Syntax
// errors name "source:line:column"; schema errors name the key and, inside blocks, the index.
StatusOr<ModelConfig> parse_config_text(std::string_view text, std::string_view source_name);

// Checks every rule above on an already-built config (what parse_config_text runs after the
// schema; also for configs built in code). Errors start with `source_name`.
Status validate_config(const ModelConfig& config, std::string_view source_name);

// config.json text for `config`: MODEL.md's key order, one block per line, numbers that parse
// back to the same double. REQUIRES: validate_config(config) is OK.
std::string to_json(const ModelConfig& config);

// The number of weights: the sum of the element counts of expected_tensors(config)
// (model/tensor_names.h), saturating at INT64_MAX instead of overflowing. REQUIRES: fields and
// layers within the caps, as for expected_tensors (validate_config checks them first).
int64_t param_count(const ModelConfig& config);

// What one rank holds at its peak during a job, in bytes: an estimate for `ringmaster inspect`,
// not a bound. With n = ceil(L / P) tokens per rank:
//   weights     = param_count * 4           every weight widened to f32 (MODEL.md), replicated
//   activations = n * (3 d_model + 2 q_dim + 2 kv_dim) * 4
//                 the residual x, the normed input h and a layer's output, plus the queries, the
//                 attention output and this rank's own K and V; the MLP, head and softmax work
//                 in token tiles, so [n, mlp_hidden] and [n, V] never exist at once
//   ring_kv     = 2 * n * 2 kv_dim * 4      K and V of the ring step being used and the one
//                                           arriving (double buffering); 0 without attention
//                                           blocks
//   state       = max over blocks of a mixer's private state:
//                 fit:   3 * ceil(L / group) * latents * d_model * 4   (latents, normed, output;
//                        every rank holds the whole sequence's latents)
//                 atlas: 4 * n_heads * (memory_hidden * d_phi + head_dim * memory_hidden) * 4
//                        (W1 W2, S1 S2, the gradients and the NS5 scratch)
//   total       = the sum. Saturates at INT64_MAX.
struct MemoryEstimate {
  int64_t tokens_per_rank = 0;
  int64_t weight_bytes = 0;
  int64_t activation_bytes = 0;
  int64_t ring_kv_bytes = 0;
  int64_t state_bytes = 0;
  int64_t total_bytes = 0;
};
// REQUIRES: validate_config(config) is OK. Errors: num_tokens < 0 or num_workers < 1.
StatusOr<MemoryEstimate> memory_estimate(const ModelConfig& config, int64_t num_tokens,
                                         int64_t num_workers);

}  // namespace ringmaster::model
