// The CPU AttentionBackend: the same bits as attention.h's functions it wraps, refusals for
// memory it does not own, and the ring and check job through it equal to the single-process
// reference.
#include "attention/backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "attention/check_job.h"
#include "tests/testing/close.h"
#include "tests/unit/attention/check_job_group.h"

namespace ringmaster::attention {
namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

TEST(CpuBackend, AttendAndMergeEqualTheKernelBitForBit) {
  ThreadPool pool(2);
  const auto backend = make_cpu_backend(pool);
  EXPECT_EQ(backend->name(), "cpu");
  EXPECT_TRUE(backend->device().is_cpu());
  const CheckJobSpec spec{.num_tokens = 300, .n_heads = 4, .n_kv_heads = 2, .head_dim = 32};
  std::vector<int64_t> tokens(300);
  for (int64_t i = 0; i < 300; ++i) tokens[static_cast<size_t>(i)] = i;
  Tensor q, k, v;
  make_check_rows(spec, tokens, q, k, v);
  const std::span<const int64_t> all(tokens);
  const Positions q_pos{all.subspan(150, 150), {}}, k_lo{all.subspan(0, 150), {}},
      k_hi{all.subspan(150, 150), {}};
  const MaskSpec mask = MaskSpec::causal_mask();

  auto want_lo =
      attend_block(q.rows(150, 300), k.rows(0, 150), v.rows(0, 150), q_pos, k_lo, mask, pool);
  auto want_hi =
      attend_block(q.rows(150, 300), k.rows(150, 300), v.rows(150, 300), q_pos, k_hi, mask, pool);
  ASSERT_TRUE(want_lo.ok() && want_hi.ok());
  auto got_lo =
      attend_block(*backend, q.rows(150, 300), k.rows(0, 150), v.rows(0, 150), q_pos, k_lo, mask);
  auto got_hi = attend_block(*backend, q.rows(150, 300), k.rows(150, 300), v.rows(150, 300), q_pos,
                             k_hi, mask);
  ASSERT_TRUE(got_lo.ok() && got_hi.ok());
  EXPECT_TRUE(same_bits(got_lo->out, want_lo->out));
  EXPECT_TRUE(same_bits(got_lo->lse, want_lo->lse));

  merge_into(*want_lo, *want_hi);
  ASSERT_TRUE(backend->merge_into(*got_lo, *got_hi).ok());
  EXPECT_TRUE(same_bits(got_lo->out, want_lo->out));
  EXPECT_TRUE(same_bits(got_lo->lse, want_lo->lse));
}

TEST(CpuBackend, EmptyResultIsTheMergeIdentity) {
  ThreadPool pool(1);
  const auto backend = make_cpu_backend(pool);
  auto empty = make_empty_result(*backend, 3, 2, 8, Device::cpu());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->out.shape(), (Shape{3, 2, 8}));
  for (int64_t i = 0; i < empty->lse.numel(); ++i) {
    EXPECT_EQ(empty->lse.data<float>()[i], -INFINITY);
  }
}

TEST(CpuBackend, RefusesDeviceMemoryAndMismatches) {
  ThreadPool pool(1);
  const auto backend = make_cpu_backend(pool);
  EXPECT_EQ(backend->empty({4}, DType::kF32, Device::cuda(0)).status().code(),
            StatusCode::kInvalidArgument);
  const Tensor a = Tensor::empty({4}, DType::kF32), b = Tensor::empty({5}, DType::kF32);
  EXPECT_EQ(backend->copy(a, b).code(), StatusCode::kInvalidArgument);
  float fake = 0;
  EXPECT_EQ(backend->copy(a, Tensor::wrap(&fake, {4}, DType::kF32, Device::cuda(0))).code(),
            StatusCode::kInvalidArgument);
  BlockResult x = make_empty_result(2, 2, 8), y = make_empty_result(3, 2, 8);
  EXPECT_EQ(backend->merge_into(x, y).code(), StatusCode::kInvalidArgument);
  auto to = to_device(*backend, a, Device::cuda(1));
  EXPECT_EQ(to.status().code(), StatusCode::kInvalidArgument);
}

// The check job through the backend (ring, Ulysses and the hybrid with Ulysses groups of 2,
// every plan) against the single-process answer, as the worker runs it.
TEST(CpuBackend, CheckJobMatchesTheReference) {
  ThreadPool pool(1);
  for (const ContextParallelism how :
       {ContextParallelism(ContextParallel::kRing), ContextParallelism(ContextParallel::kUlysses),
        ContextParallelism(ContextParallel::kHybrid, 2)}) {
    for (const bool causal : {true, false}) {
      const CheckJobSpec spec{.num_tokens = 384,
                              .n_heads = 4,
                              .n_kv_heads = 2,
                              .head_dim = 16,
                              .causal = causal,
                              .context_parallel = how};
      auto want = check_job_reference(spec, pool);
      ASSERT_TRUE(want.ok());
      for (const auto plan :
           {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
        for (const int world : {1, 2, 4}) {
          if (world % how.ulysses_degree != 0) continue;
          const Tensor got = testing::run_check_group(
              spec, plan, world, [](ThreadPool& p) { return make_cpu_backend(p); });
          EXPECT_TRUE(ringmaster::testing::all_close(got, *want, 1e-5))
              << how.to_string() << " world " << world << " causal " << causal;
        }
      }
    }
  }
}

// Rank weights: unequal shards (uneven ring blocks, uneven all-to-all counts in Ulysses and the
// hybrid's groups) give the reference too, every plan, P = 2 and 4.
TEST(CpuBackend, CheckJobWithRankWeightsMatchesTheReference) {
  ThreadPool pool(1);
  for (const ContextParallelism how :
       {ContextParallelism(ContextParallel::kRing), ContextParallelism(ContextParallel::kUlysses),
        ContextParallelism(ContextParallel::kHybrid, 2)}) {
    for (const bool causal : {true, false}) {
      const CheckJobSpec spec{.num_tokens = 384,
                              .n_heads = 4,
                              .n_kv_heads = 2,
                              .head_dim = 16,
                              .causal = causal,
                              .context_parallel = how};
      auto want = check_job_reference(spec, pool);
      ASSERT_TRUE(want.ok());
      for (const auto plan :
           {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
        for (const std::vector<double>& weights :
             {std::vector<double>{1, 3}, {1, 2, 3, 4}, {5, 1, 1, 2}}) {
          const int world = static_cast<int>(weights.size());
          if (world % how.ulysses_degree != 0) continue;
          const Tensor got = testing::run_check_group(
              spec, plan, world, [](ThreadPool& p) { return make_cpu_backend(p); }, Device::cpu(),
              nullptr, weights);
          EXPECT_TRUE(ringmaster::testing::all_close(got, *want, 1e-5))
              << how.to_string() << " " << comm::plan_name(plan) << " world " << world << " causal "
              << causal;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ringmaster::attention
