// The CUDA LayerBackend (model/cuda/layer_backend_cuda.h) against the CPU one over the same rows
// and weights: two blocks of norm, a stand-in mixer, residual adds and MLP, then the final norm,
// with shards smaller and larger than the device's 8192-row MLP tile, f32 weights (1e-5: the
// GEMMs only sum in another order) and bf16 ones (both round the product inputs to bf16 the same
// way; 5e-3 leaves room for a rounding that flips on a last-bit difference); and the head and
// output projections the attention-family mixers run through it. Labelled gpu: skips without a
// GPU (fails under RINGMASTER_REQUIRE_GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/cuda/layer_backend_cuda.h"
#include "model/layer_backend.h"
#include "tests/testing/close.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::model {
namespace {

using CudaLayerBackendGpu = ringmaster::testing::GpuTest;

Tensor random_tensor(Shape shape, float range, std::mt19937& rng) {
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  std::uniform_real_distribution<float> dist(-range, range);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

struct BlockWeights {
  Tensor norm1, norm2;
  MlpWeights mlp;
};

// The MLP matrices in `dtype` (f32, or bf16 as bf16 compute loads them); norms f32.
BlockWeights random_block(int64_t d, int64_t hidden, DType dtype, std::mt19937& rng) {
  auto matrix = [&](Shape shape) {
    const Tensor w = random_tensor(std::move(shape), 0.2f, rng);
    return dtype == DType::kF32 ? w : narrow_to(w, dtype);
  };
  return {random_tensor({d}, 1.5f, rng), random_tensor({d}, 1.5f, rng),
          MlpWeights{matrix({hidden, d}), matrix({hidden, d}), matrix({d, hidden})}};
}

// The block stack of Model::forward on `layers`, with mixer(h) = 0.5 h + bias standing in for
// the mixer; appends each block's mixer input to `inputs`.
Tensor run_stack(LayerBackend& layers, const Tensor& rows, const std::vector<BlockWeights>& blocks,
                 const Tensor& bias, const Tensor& norm, std::vector<Tensor>& inputs) {
  const int64_t n = rows.dim(0), d = rows.dim(1);
  auto x = layers.load(rows.clone());
  EXPECT_TRUE(x.ok()) << x.status().to_string();
  if (!x.ok()) return {};
  for (const BlockWeights& b : blocks) {
    Tensor h = Tensor::empty({n, d}, DType::kF32), mixed = Tensor::empty({n, d}, DType::kF32);
    EXPECT_TRUE(layers.mixer_input(*x, b.norm1, 1e-5f, h).ok());
    for (int64_t i = 0; i < n * d; ++i) {
      mixed.data<float>()[i] = 0.5f * h.data<float>()[i] + bias.data<float>()[i];
    }
    inputs.push_back(h);
    const Status added = layers.add_residuals(*x, mixed, b.norm2, 1e-5f, b.mlp, {}, "block");
    EXPECT_TRUE(added.ok()) << added.to_string();
  }
  auto hf = layers.output(std::move(*x), norm, 1e-5f);
  EXPECT_TRUE(hf.ok()) << hf.status().to_string();
  return hf.ok() ? *hf : Tensor();
}

TEST_F(CudaLayerBackendGpu, BlockStackMatchesCpu) {
  std::mt19937 rng(5);
  const int64_t d = 64, hidden = 176;
  ThreadPool pool(2);
  for (const DType dtype : {DType::kF32, DType::kBf16}) {
    const std::vector<BlockWeights> blocks = {random_block(d, hidden, dtype, rng),
                                              random_block(d, hidden, dtype, rng)};
    const Tensor norm = random_tensor({d}, 1.5f, rng);
    const double tol = dtype == DType::kF32 ? 1e-5 : 5e-3;
    for (const int64_t n : {int64_t{300}, int64_t{8192 + 301}}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " n " + std::to_string(n));
      const Tensor rows = random_tensor({n, d}, 2.0f, rng);
      const Tensor bias = random_tensor({n, d}, 0.5f, rng);
      auto cuda = make_cuda_layer_backend(0);
      ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
      const auto cpu = make_cpu_layer_backend(pool);
      std::vector<Tensor> cpu_inputs, cuda_inputs;
      const Tensor want = run_stack(*cpu, rows, blocks, bias, norm, cpu_inputs);
      const Tensor got = run_stack(**cuda, rows, blocks, bias, norm, cuda_inputs);
      ASSERT_EQ(cuda_inputs.size(), cpu_inputs.size());
      for (size_t b = 0; b < cpu_inputs.size(); ++b) {
        EXPECT_TRUE(ringmaster::testing::all_close(cuda_inputs[b], cpu_inputs[b], tol)) << b;
      }
      EXPECT_TRUE(ringmaster::testing::all_close(got, want, tol));
    }
  }
}

// The attention-family projections: heads with rope at positions past a million in zigzag
// order (f32 rows from f32 weights; bf16 rows from bf16 weights), and the output projection,
// set and accumulating, over more rows than one device tile.
TEST_F(CudaLayerBackendGpu, ProjectionsMatchCpu) {
  std::mt19937 rng(7);
  const int64_t n = 8192 + 77, d = 96, heads = 3, head_dim = 64, width = heads * head_dim;
  std::vector<int64_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = (i % 2 ? 1000003 - i : i) + 77;
  const Tensor x = random_tensor({n, d}, 1.0f, rng);
  ThreadPool pool(2);
  const auto cpu = make_cpu_layer_backend(pool);
  auto cuda = make_cuda_layer_backend(0);
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  for (const DType dtype : {DType::kF32, DType::kBf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor w32 = random_tensor({width, d}, 0.2f, rng);
    const Tensor w = dtype == DType::kF32 ? w32 : narrow_to(w32, dtype);
    Tensor want = Tensor::empty({n, heads, head_dim}, dtype);
    Tensor got = Tensor::empty({n, heads, head_dim}, dtype);
    for (const bool rope : {true, false}) {
      const std::span<const int64_t> at =
          rope ? std::span<const int64_t>(pos) : std::span<const int64_t>();
      ASSERT_TRUE(cpu->project_heads(x.data<float>(), n, w, heads, head_dim, at, 10000.0,
                                     want.mutable_raw(), dtype, {})
                      .ok());
      const Status projected = (*cuda)->project_heads(x.data<float>(), n, w, heads, head_dim, at,
                                                      10000.0, got.mutable_raw(), dtype, {});
      ASSERT_TRUE(projected.ok()) << projected.to_string();
      EXPECT_TRUE(ringmaster::testing::all_close(to_f32(got), to_f32(want),
                                                 dtype == DType::kF32 ? 1e-5 : 5e-3))
          << (rope ? "rope" : "no rope");
    }
    const Tensor o = random_tensor({n, heads, head_dim}, 1.0f, rng);
    const Tensor wo32 = random_tensor({d, width}, 0.2f, rng);
    const Tensor wo = dtype == DType::kF32 ? wo32 : narrow_to(wo32, dtype);
    for (const bool accumulate : {false, true}) {
      const Tensor start = random_tensor({n, d}, 1.0f, rng);
      Tensor want_out = start.clone(), got_out = start.clone();
      ASSERT_TRUE(cpu->project_out(o, wo, want_out.data<float>(), accumulate).ok());
      const Status projected = (*cuda)->project_out(o, wo, got_out.data<float>(), accumulate);
      ASSERT_TRUE(projected.ok()) << projected.to_string();
      EXPECT_TRUE(
          ringmaster::testing::all_close(got_out, want_out, dtype == DType::kF32 ? 1e-5 : 5e-3))
          << (accumulate ? "accumulate" : "set");
    }
  }
}

TEST_F(CudaLayerBackendGpu, StopsBetweenTilesAndRefusesDeviceRows) {
  std::mt19937 rng(6);
  const int64_t n = 40, d = 16, hidden = 32;
  const BlockWeights b = random_block(d, hidden, DType::kF32, rng);
  auto cuda = make_cuda_layer_backend(0);
  ASSERT_TRUE(cuda.ok()) << cuda.status().to_string();
  auto x = (*cuda)->load(random_tensor({n, d}, 1.0f, rng));
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  const Tensor mixed = Tensor::empty({n, d}, DType::kF32);
  std::stop_source stop;
  stop.request_stop();
  const Status cancelled =
      (*cuda)->add_residuals(*x, mixed, b.norm2, 1e-5f, b.mlp, stop.get_token(), "block 3 mlp");
  EXPECT_EQ(cancelled.code(), StatusCode::kCancelled);
  EXPECT_NE(cancelled.message().find("block 3 mlp"), std::string::npos) << cancelled.to_string();
  // The mixer's rows are host rows: the residual stream itself is not.
  const Status refused = (*cuda)->add_residuals(*x, *x, b.norm2, 1e-5f, b.mlp, {}, "block 0");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.to_string();
}

}  // namespace
}  // namespace ringmaster::model
