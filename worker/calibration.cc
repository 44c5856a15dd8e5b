#include "worker/calibration.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/stopwatch.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::worker {
namespace {

Tensor random_matrix(int64_t rows, int64_t cols, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-scale, scale);
  Tensor t = Tensor::empty({rows, cols}, DType::kF32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = uniform(rng);
  return t;
}

}  // namespace

StatusOr<double> measure_speed(const CalibrationSpec& spec, std::stop_token stop) {
  const int64_t d = std::clamp<int64_t>(spec.d_model, 1, kMaxWidth);
  const int64_t hidden = std::clamp<int64_t>(spec.mlp_hidden, 1, kMaxHidden);
  // Three products of 2 d hidden FLOPs per row (gate, up, down).
  const auto rows = std::clamp<int64_t>(
      static_cast<int64_t>(kPassFlops / (6.0 * static_cast<double>(d * hidden))), 16, 16384);
  ThreadPool pool(std::max(1, spec.threads));
  RM_ASSIGN_OR_RETURN(
      std::shared_ptr<attention::AttentionBackend> attention,
      make_attention_backend(spec.device, spec.local_rank, pool, stop, spec.compute));
  // The attention backend resolves the device (auto: the GPU where there is one); only the
  // layers are timed.
  RM_ASSIGN_OR_RETURN(const std::shared_ptr<model::LayerBackend> layer_backend,
                      make_layer_backend(attention->device(), pool));
  model::LayerBackend& layers = *layer_backend;

  // Weights scaled so that the rows stay of order one however many passes run.
  std::mt19937 rng(20261207);
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hidden)));
  model::MlpWeights mlp{random_matrix(hidden, d, scale, rng), random_matrix(hidden, d, scale, rng),
                        random_matrix(d, hidden, scale, rng)};
  if (spec.compute == DType::kBf16) {
    mlp = {narrow_to(mlp.w_gate, DType::kBf16), narrow_to(mlp.w_up, DType::kBf16),
           narrow_to(mlp.w_down, DType::kBf16)};
  }
  Tensor g = Tensor::empty({d}, DType::kF32);
  std::fill(g.data<float>(), g.data<float>() + d, 1.0f);
  RM_ASSIGN_OR_RETURN(Tensor x, layers.load(random_matrix(rows, d, 1.0f, rng)));
  RM_ASSIGN_OR_RETURN(const Tensor mixed, layers.empty({rows, d}, DType::kF32));

  auto pass = [&] {
    return layers.add_residuals(x, mixed, g, 1e-6f, mlp, stop, "calibrating this worker's speed");
  };
  RM_RETURN_IF_ERROR(pass());  // warm-up: first touch, GEMM plans, device copies of the weights
  const auto start = std::chrono::steady_clock::now();
  const double budget_s = std::chrono::duration<double>(kBudget).count();
  int passes = 0;
  double seconds = 0;
  while (passes < kMinPasses || seconds < budget_s) {
    RM_RETURN_IF_ERROR(pass());
    ++passes;
    seconds = seconds_since(start);
  }
  return static_cast<double>(rows * passes) / seconds;
}

}  // namespace ringmaster::worker
