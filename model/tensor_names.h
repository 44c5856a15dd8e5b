// model/tensor_names.h: the tensors a model directory's weights.safetensors must hold for a
// given config, by name and shape (MODEL.md "Tensor names and shapes"), written down once.
//
// Names are plain dotted paths without a ".weight" suffix; `i` is the block index and `j` the
// FIT global layer index, both from 0. Shapes are [out, in] for projections. The loader's
// check (WeightFile::check_against), param_count and `ringmaster init` all read this list.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace ringmaster::model {

struct TensorSpec {
  std::string name;  // "blocks.3.attn.wq"
  Shape shape;       // [n_heads * head_dim, d_model]

  bool operator==(const TensorSpec&) const = default;
};

// Width of the ATLAS feature map phi: head_dim for degree 1, head_dim + head_dim^2 for degree 2
// (phi(u) = [u ; flatten(u u^T) / sqrt(2)]).
int64_t atlas_d_phi(int64_t head_dim, int64_t feature_degree);

// Every tensor the model has, in model order: embed, then each block (norm1, norm2, mlp, then
// its mixer's tensors), then norm, head and (with a fit block) fit.latents. Names are unique.
// REQUIRES: the integer fields are at most kMaxConfigInt and blocks plus FIT global layers at
// most kMaxLayers (validate_config checks both before it calls this).
std::vector<TensorSpec> expected_tensors(const ModelConfig& config);

}  // namespace ringmaster::model
