#include "tests/testing/model_configs.h"

#include <utility>

namespace ringmaster::testing {

model::ModelConfig small_model_config(bool causal, std::vector<model::BlockConfig> blocks) {
  model::ModelConfig config;
  config.d_model = 32;
  config.n_heads = 4;
  config.n_kv_heads = 2;
  config.head_dim = 8;
  config.mlp_hidden = 48;
  config.norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.causal = causal;
  config.blocks = std::move(blocks);
  return config;
}

}  // namespace ringmaster::testing
