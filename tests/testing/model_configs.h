// tests/testing/model_configs.h: the small model the stack tests build (d_model 32, 4 heads over
// 2 kv heads of 8, MLP 48), so its sizes are written once. The tests vary only the blocks and
// whether the model is causal; init_model(config, seed, dir) then writes it to a directory.
#pragma once

#include <vector>

#include "model/config.h"

namespace ringmaster::testing {

// A DNA-vocabulary model small enough for the PyTorch reference to run in a second: d_model 32,
// n_heads 4, n_kv_heads 2, head_dim 8, mlp_hidden 48, norm_eps 1e-5, rope_theta 10000.
model::ModelConfig small_model_config(bool causal, std::vector<model::BlockConfig> blocks);

}  // namespace ringmaster::testing
