#include "model/init.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <random>

#include "io/atomic_file.h"
#include "model/safetensors.h"
#include "model/tensor_names.h"

namespace ringmaster::model {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One tensor's values, chosen by what the tensor is.
void fill(const TensorSpec& spec, const ModelConfig& config, std::mt19937_64& rng, float* out) {
  const int64_t n = shape_numel(spec.shape);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::string& name = spec.name;
  const bool is_norm = ends_with(name, "norm") || ends_with(name, "norm1") ||
                       ends_with(name, "norm2") || ends_with(name, "norm_q") ||
                       ends_with(name, "norm_kv");
  if (is_norm) {
    for (int64_t i = 0; i < n; ++i) out[i] = 1.0f;
  } else if (name == "embed" || name == "fit.latents") {
    for (int64_t i = 0; i < n; ++i) out[i] = normal(rng);
  } else if (ends_with(name, "b_gates")) {
    // Rows g * n_heads + e: gate g of head e (0 keep, 1 lr, 2 mom, 3 gamma).
    const float bias[4] = {2.0f, -3.0f, 0.0f, 0.0f};
    for (int64_t i = 0; i < n; ++i) out[i] = bias[i / config.n_heads] + 0.1f * normal(rng);
  } else if (ends_with(name, "w_gates")) {
    const float scale = 0.1f / std::sqrt(static_cast<float>(spec.shape.back()));
    for (int64_t i = 0; i < n; ++i) out[i] = scale * normal(rng);
  } else {
    // A projection [out, in] (or per-head [heads, out, in]): unit-variance outputs.
    const float scale = 1.0f / std::sqrt(static_cast<float>(spec.shape.back()));
    for (int64_t i = 0; i < n; ++i) out[i] = scale * normal(rng);
  }
}

}  // namespace

Status init_model(const ModelConfig& config, uint64_t seed, const std::string& dir, DType dtype) {
  RM_RETURN_IF_ERROR(validate_config(config, dir + "/config.json"));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_status(dir, errno);
  std::mt19937_64 rng(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const TensorSpec& spec : expected_tensors(config)) {
    Tensor values = Tensor::empty(spec.shape, DType::kF32);
    fill(spec, config, rng, values.data<float>());
    tensors.emplace_back(spec.name, dtype == DType::kF32 ? values : narrow_to(values, dtype));
  }
  RM_RETURN_IF_ERROR(write_safetensors(dir + "/weights.safetensors", tensors,
                                       {{"ringmaster_seed", std::to_string(seed)}}));
  return io::write_file_atomically(dir + "/config.json", to_json(config));
}

}  // namespace ringmaster::model
