// The CUDA LayerBackend (model/cuda/layer_backend_cuda.h) against the CPU one over the same rows
// and weights: two blocks of norm, a stand-in mixer, residual adds and MLP, then the final norm,
// with shards smaller and larger than the device's 8192-row MLP tile, f32 weights (1e-5: the
// GEMMs only sum in another order) and bf16 ones (both round the product inputs to bf16 the same
// way; 5e-3 leaves room for a rounding that flips on a last-bit difference); and the head and
// output projections the attention-family mixers run through it; the mixers' rows on the host
// and on the device (Mixer::takes_device_rows). Labelled gpu: skips without a GPU (fails under
// RINGMASTER_REQUIRE_GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "core/cuda/device_buffer.h"
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

// `t` as host rows (a copy when it is on the device).
Tensor to_host(const Tensor& t) {
  if (t.device().is_cpu()) return t;
  Tensor host = Tensor::empty(t.shape(), t.dtype());
  EXPECT_TRUE(copy_bytes(host.mutable_raw(), t.raw(), t.bytes()).ok());
  return host;
}

// A copy of `t` on `layers`' device, or `t` itself when `on_device` is false.
Tensor placed(LayerBackend& layers, const Tensor& t, bool on_device) {
  if (!on_device) return t;
  auto copy = layers.empty(t.shape(), t.dtype());
  EXPECT_TRUE(copy.ok()) << copy.status().to_string();
  if (!copy.ok()) return {};
  EXPECT_TRUE(copy_bytes(copy->mutable_raw(), t.raw(), t.bytes()).ok());
  return *copy;
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
// the mixer (h and its output on the device with `device_rows`); appends each block's mixer input
// to `inputs`.
Tensor run_stack(LayerBackend& layers, const Tensor& rows, const std::vector<BlockWeights>& blocks,
                 const Tensor& bias, const Tensor& norm, std::vector<Tensor>& inputs,
                 bool device_rows = false) {
  const int64_t n = rows.dim(0), d = rows.dim(1);
  auto x = layers.load(rows.clone());
  EXPECT_TRUE(x.ok()) << x.status().to_string();
  if (!x.ok()) return {};
  for (const BlockWeights& b : blocks) {
    Tensor h = placed(layers, Tensor::empty({n, d}, DType::kF32), device_rows);
    EXPECT_TRUE(layers.mixer_input(*x, b.norm1, 1e-5f, h).ok());
    const Tensor h_rows = to_host(h);
    Tensor mixed_rows = Tensor::empty({n, d}, DType::kF32);
    for (int64_t i = 0; i < n * d; ++i) {
      mixed_rows.data<float>()[i] = 0.5f * h_rows.data<float>()[i] + bias.data<float>()[i];
    }
    inputs.push_back(h_rows);
    const Tensor mixed = placed(layers, mixed_rows, device_rows);
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
      std::vector<Tensor> cpu_inputs;
      const Tensor want = run_stack(*cpu, rows, blocks, bias, norm, cpu_inputs);
      for (const bool device_rows : {false, true}) {
        SCOPED_TRACE(device_rows ? "mixer rows on the device" : "mixer rows on the host");
        std::vector<Tensor> cuda_inputs;
        const Tensor got = run_stack(**cuda, rows, blocks, bias, norm, cuda_inputs, device_rows);
        ASSERT_EQ(cuda_inputs.size(), cpu_inputs.size());
        for (size_t b = 0; b < cpu_inputs.size(); ++b) {
          EXPECT_TRUE(ringmaster::testing::all_close(cuda_inputs[b], cpu_inputs[b], tol)) << b;
        }
        EXPECT_TRUE(ringmaster::testing::all_close(got, want, tol));
      }
    }
  }
}

// The attention-family projections: heads with rope at positions past a million in zigzag
// order (f32 rows from f32 weights; bf16 rows from bf16 weights), and the output projection,
// set and accumulating, over more rows than one device tile; the input and output rows on the host
// and on the device in each combination.
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
  LayerBackend& gpu = **cuda;
  for (const DType dtype : {DType::kF32, DType::kBf16}) {
    const double tol = dtype == DType::kF32 ? 1e-5 : 5e-3;
    const Tensor w32 = random_tensor({width, d}, 0.2f, rng);
    const Tensor w = dtype == DType::kF32 ? w32 : narrow_to(w32, dtype);
    const Tensor o = random_tensor({n, heads, head_dim}, 1.0f, rng);
    const Tensor wo32 = random_tensor({d, width}, 0.2f, rng);
    const Tensor wo = dtype == DType::kF32 ? wo32 : narrow_to(wo32, dtype);
    for (const bool rope : {true, false}) {
      const std::span<const int64_t> at =
          rope ? std::span<const int64_t>(pos) : std::span<const int64_t>();
      const Tensor want = Tensor::empty({n, heads, head_dim}, dtype);
      ASSERT_TRUE(cpu->project_heads(x, w, at, 10000.0, want, {}).ok());
      for (const bool in_on_device : {false, true}) {
        for (const bool out_on_device : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + (rope ? " rope" : " no rope") +
                       (in_on_device ? " x on the device" : " x on the host") +
                       (out_on_device ? ", out on the device" : ", out on the host"));
          const Tensor got = placed(gpu, Tensor::empty({n, heads, head_dim}, dtype), out_on_device);
          const Status projected =
              gpu.project_heads(placed(gpu, x, in_on_device), w, at, 10000.0, got, {});
          ASSERT_TRUE(projected.ok()) << projected.to_string();
          EXPECT_TRUE(ringmaster::testing::all_close(to_f32(to_host(got)), to_f32(want), tol));
        }
      }
    }
    for (const bool accumulate : {false, true}) {
      const Tensor start = random_tensor({n, d}, 1.0f, rng);
      const Tensor want_out = start.clone();
      ASSERT_TRUE(cpu->project_out(o, wo, want_out, accumulate).ok());
      for (const bool in_on_device : {false, true}) {
        for (const bool out_on_device : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + (accumulate ? " accumulate" : " set") +
                       (in_on_device ? " o on the device" : " o on the host") +
                       (out_on_device ? ", out on the device" : ", out on the host"));
          const Tensor got_out = placed(gpu, start.clone(), out_on_device);
          const Status projected =
              gpu.project_out(placed(gpu, o, in_on_device), wo, got_out, accumulate);
          ASSERT_TRUE(projected.ok()) << projected.to_string();
          EXPECT_TRUE(ringmaster::testing::all_close(to_host(got_out), want_out, tol));
        }
      }
    }
  }
}

TEST_F(CudaLayerBackendGpu, StopsBetweenTilesAndRefusesMisshapenRows) {
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
  // The mixer's rows must have the residual stream's shape, wherever they are.
  const Tensor short_rows = Tensor::empty({n - 1, d}, DType::kF32);
  const Status refused =
      (*cuda)->add_residuals(*x, short_rows, b.norm2, 1e-5f, b.mlp, {}, "block 0");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.to_string();
}

}  // namespace
}  // namespace ringmaster::model
