#include "launcher/model_commands.h"

#include <cstdio>

#include "model/config.h"
#include "model/init.h"
#include "model/safetensors.h"

namespace ringmaster::launcher {
namespace {

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::string describe_block(const model::BlockConfig& b) {
  switch (b.mixer) {
    case model::MixerKind::kAttention:
      return "attention";
    case model::MixerKind::kWindow:
      return "window w=" + std::to_string(b.window);
    case model::MixerKind::kLocal:
      return "local group=" + std::to_string(b.group);
    case model::MixerKind::kFit:
      return "fit group=" + std::to_string(b.group) + " latents=" + std::to_string(b.latents) +
             " global_layers=" + std::to_string(b.global_layers);
    case model::MixerKind::kAtlas:
      return "atlas chunk=" + std::to_string(b.chunk) +
             " omega_window=" + std::to_string(b.omega_window) +
             " memory_hidden=" + std::to_string(b.memory_hidden) +
             " feature_degree=" + std::to_string(b.feature_degree);
  }
  return "?";
}

}  // namespace

Status run_init(const InitOptions& options) {
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, model::parse_config(options.config_path));
  RM_ASSIGN_OR_RETURN(DType dtype, parse_dtype(options.dtype));
  if (dtype == DType::kI32) return invalid_argument("--dtype must be f32, bf16 or f16");
  RM_RETURN_IF_ERROR(model::init_model(config, options.seed, options.out_dir, dtype));
  std::printf("wrote %s/config.json and %s/weights.safetensors (%lld parameters, seed %llu)\n",
              options.out_dir.c_str(), options.out_dir.c_str(),
              static_cast<long long>(model::param_count(config)),
              static_cast<unsigned long long>(options.seed));
  return ok_status();
}

Status run_inspect(const InspectOptions& options) {
  const std::string config_path = options.model_dir + "/config.json";
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, model::parse_config(config_path));
  RM_ASSIGN_OR_RETURN(model::WeightFile weights,
                      model::WeightFile::open(options.model_dir + "/weights.safetensors"));
  RM_RETURN_IF_ERROR(weights.check_against(config));
  RM_ASSIGN_OR_RETURN(model::MemoryEstimate memory,
                      model::memory_estimate(config, options.tokens, options.workers));
  std::printf("model       %s (%s)\n", options.model_dir.c_str(), config.format.c_str());
  std::printf("vocab       %s (V = %lld)\n", io::vocab_name(config.vocab),
              static_cast<long long>(config.vocab_size()));
  std::printf("width       d_model %lld, heads %lld (kv %lld) x %lld, mlp_hidden %lld\n",
              static_cast<long long>(config.d_model), static_cast<long long>(config.n_heads),
              static_cast<long long>(config.n_kv_heads), static_cast<long long>(config.head_dim),
              static_cast<long long>(config.mlp_hidden));
  std::printf("attention   %s, rope_theta %g, norm_eps %g\n",
              config.causal ? "causal" : "bidirectional", config.rope_theta, config.norm_eps);
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    std::printf("block %-5zu %s\n", i, describe_block(config.blocks[i]).c_str());
  }
  std::printf("parameters  %lld (%.1f MiB as f32)\n",
              static_cast<long long>(model::param_count(config)), mib(memory.weight_bytes));
  std::printf("memory      %lld tokens on %lld workers: %lld tokens and %.1f MiB per worker\n",
              static_cast<long long>(options.tokens), static_cast<long long>(options.workers),
              static_cast<long long>(memory.tokens_per_rank), mib(memory.total_bytes));
  std::printf("            weights %.1f, activations %.1f, ring K/V %.1f, mixer state %.1f MiB\n",
              mib(memory.weight_bytes), mib(memory.activation_bytes), mib(memory.ring_kv_bytes),
              mib(memory.state_bytes));
  return ok_status();
}

}  // namespace ringmaster::launcher
