// The CUDA AttentionBackend against the CPU backend, its reference: blocks from host and from
// device inputs in f32 (converted to f16 on the device), bf16 and f16, every mask; the merge on
// the device; and the check job's ring over a LocalComm group of P ranks sharing ONE GPU with
// device-resident q, k, v and ring buffers (LocalComm moving device memory with copy_bytes); the
// K/V conversions the backend keeps between calls.
// Labelled gpu: skips without a GPU, fails instead when RINGMASTER_REQUIRE_GPU is set.
//
// Tolerance: 1e-2 of max |out| for f32 inputs (the device rounds them to f16, 11 significant
// bits, and rounds softmax weights to the input type before P V), 2e-2 for bf16 inputs (the CPU
// widens the same bf16 values exactly, so only the kernel's rounding of P differs).
#include "attention/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention/backend.h"
#include "attention/check_job.h"
#include "core/cuda/device_buffer.h"
#include "tests/testing/close.h"
#include "tests/unit/attention/check_job_group.h"
#include "tests/unit/gpu/require_gpu.h"

namespace ringmaster::attention {
namespace {

using CudaBackendGpu = ringmaster::testing::GpuTest;
using ringmaster::testing::all_close;

std::unique_ptr<AttentionBackend> cuda_backend() {
  auto backend = make_cuda_backend(0);
  EXPECT_TRUE(backend.ok()) << backend.status().to_string();
  return backend.ok() ? std::move(*backend) : nullptr;
}

Tensor download(AttentionBackend& backend, const Tensor& t) {
  auto host = to_device(backend, t, Device::cpu());
  EXPECT_TRUE(host.ok()) << host.status().to_string();
  return host.ok() ? *host : Tensor();
}

bool any_nan(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (std::isnan(t.data<float>()[i])) return true;
  }
  return false;
}

// One grid point: a block of queries against a block of keys, both from make_check_rows.
struct Case {
  int64_t q_len, kv_len, n_heads, n_kv_heads, head_dim;
  MaskSpec mask;
  int64_t q_offset;  // global position of the first query (keys start at 0)
  DType dtype;
};

std::string describe(const Case& c) {
  return "q_len " + std::to_string(c.q_len) + " kv_len " + std::to_string(c.kv_len) + " heads " +
         std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) + " d " +
         std::to_string(c.head_dim) + " causal " + std::to_string(c.mask.causal) + " window " +
         std::to_string(c.mask.window) + " group " + std::to_string(c.mask.group) + " " +
         dtype_name(c.dtype);
}

void check_case(const Case& c, bool device_inputs) {
  SCOPED_TRACE(describe(c) + (device_inputs ? " device inputs" : " host inputs"));
  const CheckJobSpec spec{.num_tokens = std::max(c.q_offset + c.q_len, c.kv_len),
                          .n_heads = c.n_heads,
                          .n_kv_heads = c.n_kv_heads,
                          .head_dim = c.head_dim};
  std::vector<int64_t> q_tokens, k_tokens;
  for (int64_t i = 0; i < c.q_len; ++i) q_tokens.push_back(c.q_offset + i);
  for (int64_t i = 0; i < c.kv_len; ++i) k_tokens.push_back(i);
  Tensor q, k, v, unused_k, unused_v, unused_q;
  make_check_rows(spec, q_tokens, q, unused_k, unused_v);
  make_check_rows(spec, k_tokens, unused_q, k, v);
  if (c.dtype != DType::kF32) {
    q = narrow_to(q, c.dtype);
    k = narrow_to(k, c.dtype);
    v = narrow_to(v, c.dtype);
  }
  const Positions q_pos{q_tokens, {}}, k_pos{k_tokens, {}};

  ThreadPool pool(2);
  const auto cpu = make_cpu_backend(pool);
  auto want = attend_block(*cpu, q, k, v, q_pos, k_pos, c.mask);
  ASSERT_TRUE(want.ok()) << want.status().to_string();

  const auto gpu = cuda_backend();
  ASSERT_NE(gpu, nullptr);
  const Device where = device_inputs ? gpu->device() : Device::cpu();
  auto dq = to_device(*gpu, q, where), dk = to_device(*gpu, k, where),
       dv = to_device(*gpu, v, where);
  ASSERT_TRUE(dq.ok() && dk.ok() && dv.ok());
  auto got = attend_block(*gpu, *dq, *dk, *dv, q_pos, k_pos, c.mask, where);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_TRUE(gpu->synchronize().ok());
  const Tensor out = download(*gpu, got->out), lse = download(*gpu, got->lse);
  EXPECT_FALSE(any_nan(out));
  const double tolerance = c.dtype == DType::kF32 ? 1e-2 : 2e-2;
  EXPECT_TRUE(all_close(out, want->out, tolerance));
  // lse: -inf exactly where every key is hidden, else close in absolute terms.
  for (int64_t i = 0; i < lse.numel(); ++i) {
    const float w = want->lse.data<float>()[i], g = lse.data<float>()[i];
    if (std::isinf(w)) {
      ASSERT_EQ(g, w) << "row " << i;
    } else {
      ASSERT_NEAR(g, w, 2e-2) << "row " << i;
    }
  }
}

std::vector<Case> grid() {
  std::vector<Case> cases;
  for (const DType dtype : {DType::kF32, DType::kBf16, DType::kF16}) {
    for (const int64_t d : {64, 128}) {
      cases.push_back({256, 256, 4, 2, d, MaskSpec::causal_mask(), 0, dtype});
      cases.push_back({200, 333, 4, 4, d, MaskSpec::none(), 0, dtype});
      cases.push_back({130, 257, 8, 2, d, MaskSpec{.causal = true}, 127, dtype});
      cases.push_back({256, 256, 2, 1, d, MaskSpec{.causal = true, .window = 50}, 0, dtype});
      cases.push_back({256, 256, 2, 2, d, MaskSpec{.group = 64}, 0, dtype});
    }
  }
  cases.push_back({64, 0, 2, 2, 64, MaskSpec::none(), 0, DType::kF32});  // no keys: empty rows
  return cases;
}

TEST_F(CudaBackendGpu, BlocksFromHostInputsMatchTheCpuBackend) {
  for (const Case& c : grid()) check_case(c, /*device_inputs=*/false);
}

TEST_F(CudaBackendGpu, BlocksFromDeviceInputsMatchTheCpuBackend) {
  for (const Case& c : grid()) check_case(c, /*device_inputs=*/true);
}

TEST_F(CudaBackendGpu, DeviceMergeMatchesTheCpuMerge) {
  ThreadPool pool(1);
  const auto cpu = make_cpu_backend(pool);
  const auto gpu = cuda_backend();
  ASSERT_NE(gpu, nullptr);
  const CheckJobSpec spec{.num_tokens = 256, .n_heads = 4, .n_kv_heads = 2, .head_dim = 64};
  std::vector<int64_t> all(256);
  for (int64_t i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = i;
  Tensor q, k, v;
  make_check_rows(spec, all, q, k, v);
  const std::span<const int64_t> pos(all);
  const Positions lo{pos.subspan(0, 128), {}}, hi{pos.subspan(128, 128), {}};
  const MaskSpec causal = MaskSpec::causal_mask();
  // Queries of the upper half against both halves of the keys, merged.
  auto a = attend_block(*cpu, q.rows(128, 256), k.rows(0, 128), v.rows(0, 128), hi, lo, causal);
  auto b = attend_block(*cpu, q.rows(128, 256), k.rows(128, 256), v.rows(128, 256), hi, hi, causal);
  ASSERT_TRUE(a.ok() && b.ok());
  BlockResult da{*to_device(*gpu, a->out, gpu->device()), *to_device(*gpu, a->lse, gpu->device())};
  const BlockResult db{*to_device(*gpu, b->out, gpu->device()),
                       *to_device(*gpu, b->lse, gpu->device())};
  ASSERT_TRUE(gpu->merge_into(da, db).ok());
  ASSERT_TRUE(cpu->merge_into(*a, *b).ok());
  EXPECT_TRUE(all_close(download(*gpu, da.out), a->out, 1e-5));
  // Mixed places are refused, not guessed at.
  EXPECT_EQ(gpu->merge_into(da, *b).code(), StatusCode::kInvalidArgument);
}

// The ring of the check job with P ranks on one GPU: q, k, v, the ring's K/V blocks and the
// partial results all on the device, moved between ranks by LocalComm with copy_bytes.
TEST_F(CudaBackendGpu, DeviceResidentRingOnOneGpuMatchesTheReference) {
  ThreadPool pool(2);
  for (const bool causal : {true, false}) {
    const CheckJobSpec spec{
        .num_tokens = 1024, .n_heads = 4, .n_kv_heads = 2, .head_dim = 64, .causal = causal};
    auto want = check_job_reference(spec, pool);
    ASSERT_TRUE(want.ok());
    for (const auto plan :
         {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
      for (const int world : {2, 4}) {
        SCOPED_TRACE("world " + std::to_string(world) + " causal " + std::to_string(causal) +
                     " plan " + std::to_string(static_cast<int>(plan)));
        const Tensor got = attention::testing::run_check_group(
            spec, plan, world,
            [](ThreadPool&) {
              auto backend = make_cuda_backend(0);
              EXPECT_TRUE(backend.ok()) << backend.status().to_string();
              return std::move(*backend);
            },
            Device::cuda(0), copy_bytes);
        EXPECT_FALSE(any_nan(got));
        EXPECT_TRUE(all_close(got, *want, 1e-2));
      }
    }
  }
}

// The CUDA backend with host inputs and host results (how model jobs call it) under the same
// ring: buffers stay on the host and LocalComm's default memcpy moves them.
TEST_F(CudaBackendGpu, HostRingOnTheCudaBackendMatchesTheReference) {
  ThreadPool pool(2);
  const CheckJobSpec spec{.num_tokens = 512, .n_heads = 4, .n_kv_heads = 2, .head_dim = 128};
  auto want = check_job_reference(spec, pool);
  ASSERT_TRUE(want.ok());
  const Tensor got =
      attention::testing::run_check_group(spec, comm::PlanKind::kZigzag, 2, [](ThreadPool&) {
        auto backend = make_cuda_backend(0);
        EXPECT_TRUE(backend.ok()) << backend.status().to_string();
        return std::move(*backend);
      });
  EXPECT_TRUE(all_close(got, *want, 1e-2));
}

// A device f32 K/V block is converted to f16 once and kept for the calls that follow (the
// ring's query slices). The kept copy must follow its inputs: after copy() into k, and for a new
// k (zeros from empty(), likely at the dropped one's address), results match the CPU again.
TEST_F(CudaBackendGpu, KeptKvConversionsFollowTheirInputs) {
  ThreadPool pool(2);
  const auto cpu = make_cpu_backend(pool);
  const auto gpu = cuda_backend();
  ASSERT_NE(gpu, nullptr);
  constexpr int64_t kLen = 512, kSlice = 128;
  const CheckJobSpec spec{.num_tokens = kLen, .n_heads = 4, .n_kv_heads = 2, .head_dim = 64};
  std::vector<int64_t> all(kLen);
  for (int64_t i = 0; i < kLen; ++i) all[static_cast<size_t>(i)] = i;
  Tensor q, k, v;
  make_check_rows(spec, all, q, k, v);
  const std::span<const int64_t> pos(all);
  const MaskSpec causal = MaskSpec::causal_mask();
  const Device gpu0 = gpu->device();
  const Tensor dq = *to_device(*gpu, q, gpu0), dv = *to_device(*gpu, v, gpu0);
  // Query rows [begin, end) against the device k and v, results on the device.
  BlockResult result = *make_empty_result(*gpu, kLen, 4, 64, gpu0);
  auto attend_rows = [&](const Tensor& dk, int64_t begin, int64_t end) {
    BlockResult slice{result.out.rows(begin, end), result.lse.rows(begin, end)};
    const Status status =
        gpu->attend_block_into(dq.rows(begin, end), dk, dv, {pos.subspan(begin, end - begin), {}},
                               {pos, {}}, causal, slice);
    EXPECT_TRUE(status.ok()) << status.to_string();
  };
  auto all_slices = [&](const Tensor& dk) {
    for (int64_t b = 0; b < kLen; b += kSlice) attend_rows(dk, b, b + kSlice);
    EXPECT_TRUE(gpu->synchronize().ok());
    return download(*gpu, result.out);
  };
  auto want = [&](const Tensor& host_k) {
    return attend_block(*cpu, q, host_k, v, {pos, {}}, {pos, {}}, causal)->out;
  };

  Tensor dk = *to_device(*gpu, k, gpu0);
  EXPECT_TRUE(all_close(all_slices(dk), want(k), 1e-2));

  attend_rows(dk, 0, kSlice);  // keeps dk converted
  Tensor negated = k.clone();
  for (int64_t i = 0; i < negated.numel(); ++i) negated.data<float>()[i] *= -1.0f;
  ASSERT_TRUE(gpu->copy(negated, dk).ok());
  EXPECT_TRUE(all_close(all_slices(dk), want(negated), 1e-2));

  attend_rows(dk, 0, kSlice);  // keeps dk converted; dropped below without a synchronize()
  dk = Tensor();
  dk = *gpu->empty(k.shape(), DType::kF32, gpu0);
  EXPECT_TRUE(all_close(all_slices(dk), want(Tensor::empty(k.shape(), DType::kF32)), 1e-2));
}

TEST_F(CudaBackendGpu, RefusesAnAbsentDeviceAndMisplacedTensors) {
  EXPECT_FALSE(make_cuda_backend(1 << 20).ok());
  const auto gpu = cuda_backend();
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->name(), "cuda:0");
  EXPECT_EQ(gpu->empty({4}, DType::kF32, Device::cuda(7)).status().code(),
            StatusCode::kInvalidArgument);
  const Tensor q = Tensor::empty({4, 2, 64}, DType::kF32);
  const Tensor k = Tensor::empty({4, 2, 32}, DType::kF32);
  std::vector<int64_t> pos(4);
  BlockResult r = make_empty_result(4, 2, 64);
  const Status status = gpu->attend_block_into(q, k, k, {pos, {}}, {pos, {}}, MaskSpec::none(), r);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("attend_block_into"), std::string::npos) << status.to_string();
}

}  // namespace
}  // namespace ringmaster::attention
