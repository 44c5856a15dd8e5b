#include "model/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "model/internal/saturating.h"
#include "model/internal/strict_json.h"
#include "model/tensor_names.h"

namespace ringmaster::model {
namespace {

using internal::sat_add;
using internal::sat_mul;
using internal::single_quoted;
using nlohmann::json;

// Real configs are a few hundred bytes; the cap keeps a wrong path (a genome, say) from being
// read into memory before the parser rejects it.
constexpr size_t kMaxConfigBytes = size_t{1} << 20;

constexpr std::initializer_list<const char*> kTopKeys = {
    "format",     "vocab",    "d_model",    "n_heads", "n_kv_heads", "head_dim",
    "mlp_hidden", "norm_eps", "rope_theta", "causal",  "blocks"};

// The keys each block kind has, "mixer" first, in MODEL.md's order.
std::vector<const char*> block_keys(MixerKind kind) {
  switch (kind) {
    case MixerKind::kAttention:
      return {"mixer"};
    case MixerKind::kWindow:
      return {"mixer", "window"};
    case MixerKind::kLocal:
      return {"mixer", "group"};
    case MixerKind::kFit:
      return {"mixer", "group", "latents", "global_layers"};
    case MixerKind::kAtlas:
      return {"mixer", "chunk", "omega_window", "memory_hidden", "feature_degree"};
  }
  return {};
}

// Every error starts with where it is, so that a user with several model directories open knows
// which file to edit: "config.json: " or "config.json: blocks[2]: ".
class Place {
 public:
  explicit Place(std::string_view source, int64_t block = -1) : source_(source), block_(block) {}
  Place block(size_t i) const { return Place(source_, static_cast<int64_t>(i)); }
  Status error(const std::string& what) const {
    std::string prefix(source_);
    prefix += ": ";
    if (block_ >= 0) prefix += "blocks[" + std::to_string(block_) + "]: ";
    return invalid_argument(prefix + what);
  }

 private:
  std::string_view source_;
  int64_t block_;
};

// Unknown keys first (a typo explains the missing key that follows), then missing ones.
template <typename Keys>
Status check_keys(const json& object, const Keys& allowed, const Place& place,
                  const std::string& kind_note) {
  auto is_allowed = [&](const std::string& key) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
  };
  for (const auto& [key, value] : object.items()) {
    if (!is_allowed(key)) {
      std::string list;
      for (const char* a : allowed) {
        if (!list.empty()) list += ", ";
        list += a;
      }
      return place.error("unknown key " + single_quoted(key) + " (" + kind_note + list + ")");
    }
  }
  for (const char* key : allowed) {
    if (!object.contains(key)) return place.error("missing key '" + std::string(key) + "'");
  }
  return ok_status();
}

Status type_error(const Place& place, const char* key, const char* expected, const json& value) {
  std::string shown = value.dump();
  if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
  return place.error("'" + std::string(key) + "': expected " + expected + ", got " +
                     internal::json_kind(value) + " (" + shown + ")");
}

StatusOr<int64_t> get_int(const json& object, const char* key, const Place& place) {
  const json& value = object.at(key);
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    // Larger than any int64: the range check would say the same, and a cast would wrap.
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return place.error("'" + std::string(key) + "' is " + std::to_string(u) +
                         ", above the cap of " + std::to_string(kMaxConfigInt));
    }
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return type_error(place, key, "an integer", value);
}

// An integer literal is a number too: "rope_theta": 10000 is what people write.
StatusOr<double> get_number(const json& object, const char* key, const Place& place) {
  const json& value = object.at(key);
  if (!value.is_number()) return type_error(place, key, "a number", value);
  return value.get<double>();
}

StatusOr<std::string> get_string(const json& object, const char* key, const Place& place) {
  const json& value = object.at(key);
  if (!value.is_string()) return type_error(place, key, "a string", value);
  return value.get<std::string>();
}

StatusOr<bool> get_bool(const json& object, const char* key, const Place& place) {
  const json& value = object.at(key);
  if (!value.is_boolean()) return type_error(place, key, "true or false", value);
  return value.get<bool>();
}

StatusOr<MixerKind> parse_mixer(const json& block, const Place& place) {
  if (!block.contains("mixer")) return place.error("missing key 'mixer'");
  RM_ASSIGN_OR_RETURN(const std::string name, get_string(block, "mixer", place));
  for (MixerKind kind : {MixerKind::kAttention, MixerKind::kWindow, MixerKind::kLocal,
                         MixerKind::kFit, MixerKind::kAtlas}) {
    if (name == mixer_kind_name(kind)) return kind;
  }
  return place.error("'mixer' is " + single_quoted(name) +
                     "; expected one of attention, window, local, fit, atlas");
}

// The mixer kind decides which keys the block may have, so it is read first.
StatusOr<BlockConfig> parse_block(const json& value, const Place& place) {
  if (!value.is_object()) {
    return place.error(std::string("expected an object, got ") + internal::json_kind(value));
  }
  BlockConfig block;
  RM_ASSIGN_OR_RETURN(block.mixer, parse_mixer(value, place));
  const std::vector<const char*> keys = block_keys(block.mixer);
  RM_RETURN_IF_ERROR(check_keys(
      value, keys, place, "a '" + std::string(mixer_kind_name(block.mixer)) + "' block has: "));
  for (const char* key : keys) {
    const std::string_view k = key;
    int64_t* field = k == "window"           ? &block.window
                     : k == "group"          ? &block.group
                     : k == "latents"        ? &block.latents
                     : k == "global_layers"  ? &block.global_layers
                     : k == "chunk"          ? &block.chunk
                     : k == "omega_window"   ? &block.omega_window
                     : k == "memory_hidden"  ? &block.memory_hidden
                     : k == "feature_degree" ? &block.feature_degree
                                             : nullptr;
    if (field) {
      RM_ASSIGN_OR_RETURN(*field, get_int(value, key, place));
    }
  }
  return block;
}

// The upper cap keeps every later product of two fields inside int64 and every field inside the
// int that kernels and plans use for sizes.
Status check_range(const Place& place, const char* key, int64_t value, int64_t min) {
  if (value < min || value > kMaxConfigInt) {
    return place.error("'" + std::string(key) + "' is " + std::to_string(value) +
                       "; it must be in [" + std::to_string(min) + ", " +
                       std::to_string(kMaxConfigInt) + "]");
  }
  return ok_status();
}

Status check_positive(const Place& place, const char* key, double value) {
  if (!(std::isfinite(value) && value > 0.0)) {
    return place.error("'" + std::string(key) + "' is " + json(value).dump() +
                       "; it must be a finite number > 0");
  }
  return ok_status();
}

// A field that the block's kind does not have must stay 0, so that to_json and == agree.
Status check_unused(const Place& place, const BlockConfig& b) {
  const std::vector<const char*> keys = block_keys(b.mixer);
  const std::pair<const char*, int64_t> fields[] = {{"window", b.window},
                                                    {"group", b.group},
                                                    {"latents", b.latents},
                                                    {"global_layers", b.global_layers},
                                                    {"chunk", b.chunk},
                                                    {"omega_window", b.omega_window},
                                                    {"memory_hidden", b.memory_hidden},
                                                    {"feature_degree", b.feature_degree}};
  for (const auto& field : fields) {
    const char* key = field.first;
    const bool used = std::any_of(keys.begin(), keys.end(),
                                  [&](const char* k) { return std::string_view(k) == key; });
    if (!used && field.second != 0) {
      return place.error("'" + std::string(key) + "' does not apply to a '" +
                         mixer_kind_name(b.mixer) + "' block");
    }
  }
  return ok_status();
}

Status validate_block(const Place& place, const BlockConfig& b) {
  RM_RETURN_IF_ERROR(check_unused(place, b));
  switch (b.mixer) {
    case MixerKind::kAttention:
      return ok_status();
    case MixerKind::kWindow:
      return check_range(place, "window", b.window, 1);
    case MixerKind::kLocal:
      return check_range(place, "group", b.group, 1);
    case MixerKind::kFit:
      RM_RETURN_IF_ERROR(check_range(place, "group", b.group, 1));
      RM_RETURN_IF_ERROR(check_range(place, "latents", b.latents, 1));
      return check_range(place, "global_layers", b.global_layers, 0);
    case MixerKind::kAtlas:
      RM_RETURN_IF_ERROR(check_range(place, "chunk", b.chunk, 1));
      RM_RETURN_IF_ERROR(check_range(place, "omega_window", b.omega_window, 1));
      RM_RETURN_IF_ERROR(check_range(place, "memory_hidden", b.memory_hidden, 1));
      if (b.feature_degree != 1 && b.feature_degree != 2) {
        return place.error("'feature_degree' is " + std::to_string(b.feature_degree) +
                           "; it must be 1 or 2");
      }
      return ok_status();
  }
  return place.error("unknown mixer kind");
}

}  // namespace

const char* mixer_kind_name(MixerKind kind) {
  switch (kind) {
    case MixerKind::kAttention:
      return "attention";
    case MixerKind::kWindow:
      return "window";
    case MixerKind::kLocal:
      return "local";
    case MixerKind::kFit:
      return "fit";
    case MixerKind::kAtlas:
      return "atlas";
  }
  return "?";
}

bool ModelConfig::has_fit() const {
  return std::any_of(blocks.begin(), blocks.end(),
                     [](const BlockConfig& b) { return b.mixer == MixerKind::kFit; });
}

StatusOr<ModelConfig> parse_config(const std::string& path) {
  // Mapped, not read: Buffer::map_file already names the path in every open/stat error.
  RM_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> file, Buffer::map_file(path));
  if (file->bytes() > kMaxConfigBytes) {
    return invalid_argument(path + ": " + std::to_string(file->bytes()) +
                            " bytes, above the 1 MiB limit for a config file");
  }
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->bytes());
  return parse_config_text(text, path);
}

StatusOr<ModelConfig> parse_config_text(std::string_view text, std::string_view source_name) {
  const Place top(source_name);
  json root;
  if (auto error = internal::parse_strict_json(text, root)) {
    std::string where(source_name);
    if (error->byte) where += ":" + internal::line_column(text, *error->byte);
    if (!error->path.empty()) where += ": " + error->path;
    return invalid_argument(where + ": " + error->what);
  }
  if (!root.is_object()) {
    return top.error(std::string("expected a JSON object, got ") + internal::json_kind(root));
  }
  // Keys and types first, values after (validate_config): the first error a user sees is the
  // one nearest the text they typed.
  RM_RETURN_IF_ERROR(check_keys(root, kTopKeys, top, "config.json keys are: "));

  ModelConfig config;
  RM_ASSIGN_OR_RETURN(config.format, get_string(root, "format", top));
  RM_ASSIGN_OR_RETURN(const std::string vocab, get_string(root, "vocab", top));
  if (vocab == "dna") {
    config.vocab = Vocab::kDna;
  } else if (vocab == "bytes") {
    config.vocab = Vocab::kBytes;
  } else {
    return top.error("'vocab' is " + single_quoted(vocab) + "; expected 'dna' or 'bytes'");
  }
  RM_ASSIGN_OR_RETURN(config.d_model, get_int(root, "d_model", top));
  RM_ASSIGN_OR_RETURN(config.n_heads, get_int(root, "n_heads", top));
  RM_ASSIGN_OR_RETURN(config.n_kv_heads, get_int(root, "n_kv_heads", top));
  RM_ASSIGN_OR_RETURN(config.head_dim, get_int(root, "head_dim", top));
  RM_ASSIGN_OR_RETURN(config.mlp_hidden, get_int(root, "mlp_hidden", top));
  RM_ASSIGN_OR_RETURN(config.norm_eps, get_number(root, "norm_eps", top));
  RM_ASSIGN_OR_RETURN(config.rope_theta, get_number(root, "rope_theta", top));
  RM_ASSIGN_OR_RETURN(config.causal, get_bool(root, "causal", top));
  const json& blocks = root.at("blocks");
  if (!blocks.is_array()) return type_error(top, "blocks", "an array", blocks);
  for (size_t i = 0; i < blocks.size(); ++i) {
    RM_ASSIGN_OR_RETURN(BlockConfig block, parse_block(blocks[i], top.block(i)));
    config.blocks.push_back(block);
  }
  RM_RETURN_IF_ERROR(validate_config(config, source_name));
  return config;
}

Status validate_config(const ModelConfig& c, std::string_view source_name) {
  const Place top(source_name);
  if (c.format != kModelFormat) {
    return top.error("'format' is " + single_quoted(c.format) + "; this build reads '" +
                     std::string(kModelFormat) + "'");
  }
  RM_RETURN_IF_ERROR(check_range(top, "d_model", c.d_model, 1));
  RM_RETURN_IF_ERROR(check_range(top, "n_heads", c.n_heads, 1));
  RM_RETURN_IF_ERROR(check_range(top, "n_kv_heads", c.n_kv_heads, 1));
  RM_RETURN_IF_ERROR(check_range(top, "head_dim", c.head_dim, 1));
  RM_RETURN_IF_ERROR(check_range(top, "mlp_hidden", c.mlp_hidden, 1));
  if (c.n_heads % c.n_kv_heads != 0) {
    return top.error("'n_heads' (" + std::to_string(c.n_heads) + ") is not a multiple of " +
                     "'n_kv_heads' (" + std::to_string(c.n_kv_heads) + ")");
  }
  if (c.head_dim % 2 != 0) {
    return top.error("'head_dim' is " + std::to_string(c.head_dim) +
                     "; it must be even (rope rotates its two halves)");
  }
  RM_RETURN_IF_ERROR(check_positive(top, "norm_eps", c.norm_eps));
  RM_RETURN_IF_ERROR(check_positive(top, "rope_theta", c.rope_theta));

  int64_t layers = 0;
  int64_t group_block = -1;    // first local or fit block: the group every other must match
  int64_t latents_block = -1;  // first fit block: the latents every other must match
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockConfig& b = c.blocks[i];
    const Place place = top.block(i);
    RM_RETURN_IF_ERROR(validate_block(place, b));
    if (b.mixer == MixerKind::kLocal || b.mixer == MixerKind::kFit) {
      if (group_block < 0) {
        group_block = static_cast<int64_t>(i);
      } else if (b.group != c.blocks[group_block].group) {
        return place.error("'group' is " + std::to_string(b.group) + " but blocks[" +
                           std::to_string(group_block) + "] has " +
                           std::to_string(c.blocks[group_block].group) +
                           "; every local and fit block uses the same group");
      }
    }
    if (b.mixer == MixerKind::kFit) {
      if (latents_block < 0) {
        latents_block = static_cast<int64_t>(i);
      } else if (b.latents != c.blocks[latents_block].latents) {
        return place.error("'latents' is " + std::to_string(b.latents) + " but blocks[" +
                           std::to_string(latents_block) + "] has " +
                           std::to_string(c.blocks[latents_block].latents) +
                           "; every fit block uses the same latents");
      }
    }
    // Checked before counting parameters: expected_tensors builds one entry per tensor.
    layers = sat_add(layers, sat_add(1, b.global_layers));
    if (layers > kMaxLayers) {
      return place.error("blocks plus FIT global layers exceed the cap of " +
                         std::to_string(kMaxLayers) + " layers");
    }
  }
  // Every field is now at most 2^31 - 1 and the layers are few: counting cannot run away.
  const int64_t params = param_count(c);
  if (params > kMaxParams) {
    const std::string count =
        params == internal::kSaturated ? "more than 2^63" : std::to_string(params);
    return top.error("the model has " + count + " parameters, above the cap of " +
                     std::to_string(kMaxParams) + " (2^34, 64 GiB as f32)");
  }
  return ok_status();
}

std::string to_json(const ModelConfig& c) {
  // nlohmann prints the shortest text that parses back to the same double (1e-05, 10000.0).
  auto number = [](double x) { return json(x).dump(); };
  std::string out = "{\n";
  out += "  \"format\": " + json(c.format).dump() + ",\n";
  out += "  \"vocab\": \"" + std::string(vocab_name(c.vocab)) + "\",\n";
  out += "  \"d_model\": " + std::to_string(c.d_model) + ",\n";
  out += "  \"n_heads\": " + std::to_string(c.n_heads) + ",\n";
  out += "  \"n_kv_heads\": " + std::to_string(c.n_kv_heads) + ",\n";
  out += "  \"head_dim\": " + std::to_string(c.head_dim) + ",\n";
  out += "  \"mlp_hidden\": " + std::to_string(c.mlp_hidden) + ",\n";
  out += "  \"norm_eps\": " + number(c.norm_eps) + ",\n";
  out += "  \"rope_theta\": " + number(c.rope_theta) + ",\n";
  out += std::string("  \"causal\": ") + (c.causal ? "true" : "false") + ",\n";
  out += "  \"blocks\": [";
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockConfig& b = c.blocks[i];
    out += i ? ",\n    " : "\n    ";
    out += "{\"mixer\": \"" + std::string(mixer_kind_name(b.mixer)) + "\"";
    for (const char* key : block_keys(b.mixer)) {
      const std::string_view k = key;
      const int64_t value = k == "window"          ? b.window
                            : k == "group"         ? b.group
                            : k == "latents"       ? b.latents
                            : k == "global_layers" ? b.global_layers
                            : k == "chunk"         ? b.chunk
                            : k == "omega_window"  ? b.omega_window
                            : k == "memory_hidden" ? b.memory_hidden
                                                   : b.feature_degree;
      if (k != "mixer") out += ", \"" + std::string(k) + "\": " + std::to_string(value);
    }
    out += "}";
  }
  out += c.blocks.empty() ? "]\n" : "\n  ]\n";
  out += "}\n";
  return out;
}

int64_t param_count(const ModelConfig& config) {
  int64_t total = 0;
  for (const TensorSpec& spec : expected_tensors(config)) {
    total = sat_add(total, internal::sat_numel(spec.shape));
  }
  return total;
}

StatusOr<MemoryEstimate> memory_estimate(const ModelConfig& c, int64_t num_tokens,
                                         int64_t num_workers) {
  if (num_tokens < 0) return invalid_argument("memory estimate: negative token count");
  if (num_workers < 1) return invalid_argument("memory estimate: fewer than 1 worker");
  constexpr int64_t kF32 = 4;
  MemoryEstimate m;
  // Plans balance tokens across ranks; the busiest holds the rounded-up share.
  m.tokens_per_rank = num_tokens / num_workers + (num_tokens % num_workers ? 1 : 0);
  const int64_t n = m.tokens_per_rank;
  m.weight_bytes = sat_mul(param_count(c), kF32);
  // Saturating: the parameter cap bounds q_dim and kv_dim only through the blocks' weights, so a
  // config without blocks may have n_heads * head_dim near 2^62, and 2 q_dim + 2 kv_dim would
  // overflow (tests/data/fuzz/config/crash_no_blocks_huge_heads.json).
  const int64_t row =
      sat_add(sat_add(3 * c.d_model, sat_mul(2, c.q_dim())), sat_mul(2, c.kv_dim()));
  m.activation_bytes = sat_mul(sat_mul(n, row), kF32);
  const bool has_attention =
      std::any_of(c.blocks.begin(), c.blocks.end(),
                  [](const BlockConfig& b) { return b.mixer == MixerKind::kAttention; });
  m.ring_kv_bytes = has_attention ? sat_mul(sat_mul(n, 4 * c.kv_dim()), kF32) : 0;
  for (const BlockConfig& b : c.blocks) {
    int64_t state = 0;
    if (b.mixer == MixerKind::kFit) {
      // Every rank holds the latents of the whole sequence (the global layers are gathered).
      const int64_t groups = num_tokens / b.group + (num_tokens % b.group ? 1 : 0);
      // sat_mul: groups is up to num_tokens, which the caller does not bound.
      state = sat_mul(sat_mul(sat_mul(sat_mul(3, groups), b.latents), c.d_model), kF32);
    } else if (b.mixer == MixerKind::kAtlas) {
      const int64_t d_phi = atlas_d_phi(c.head_dim, b.feature_degree);
      const int64_t per_head =
          sat_add(sat_mul(b.memory_hidden, d_phi), sat_mul(c.head_dim, b.memory_hidden));
      state = sat_mul(sat_mul(4 * c.n_heads, per_head), kF32);
    }
    m.state_bytes = std::max(m.state_bytes, state);
  }
  m.total_bytes =
      sat_add(sat_add(m.weight_bytes, m.activation_bytes), sat_add(m.ring_kv_bytes, m.state_bytes));
  return m;
}

}  // namespace ringmaster::model
