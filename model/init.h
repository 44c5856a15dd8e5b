// model/init.h: `ringmaster init`, a model directory with random weights for a config.
//
// The weights are drawn so activations stay finite and O(1) through any depth: projections
// N(0, 1/in), embeddings N(0, 1), norm gains 1, FIT latents N(0, 1), and ATLAS gates as
// MODEL.md's stability note asks (b_gates: keep 2, lr -3, mom 0, gamma 0, each plus N(0, 0.1)
// noise; w_gates small) so the memory chain contracts. Deterministic in the seed.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace ringmaster::model {

// Writes DIR/config.json and DIR/weights.safetensors (creating DIR). `dtype`: f32, bf16 or f16
// storage for every tensor. Both files are written atomically.
Status init_model(const ModelConfig& config, uint64_t seed, const std::string& dir,
                  DType dtype = DType::kF32);

}  // namespace ringmaster::model
