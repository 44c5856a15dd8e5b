// The ATLAS chain on the GPU (memory/cuda/atlas_cuda.h) against the CPU chain (run_head) on the
// same random heads: outputs, weights and momenta within f32 rounding of a long chain, the tail
// identical, and a run split across two calls equal to one call. Labelled gpu.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "memory/cuda/atlas_cuda.h"
#include "tests/testing/close.h"
#include "tests/unit/gpu/require_gpu.h"
#include "tests/unit/memory/atlas_inputs.h"

namespace ringmaster::memory {
namespace {

using CudaAtlasGpu = ringmaster::testing::GpuTest;

// max |a - b| / max(1, max |b|), and every value finite.
::testing::AssertionResult close_to(const std::vector<float>& a, const std::vector<float>& b) {
  return ringmaster::testing::all_close(a, b, 1e-4, /*min_scale=*/1.0);
}

struct Case {
  int degree;
  int64_t chunk, omega, len;
};

class CudaAtlasCase : public ringmaster::testing::GpuTest,
                      public ::testing::WithParamInterface<Case> {};

TEST_P(CudaAtlasCase, MatchesCpuChain) {
  const Case c = GetParam();
  AtlasShape shape{.head_dim = 16,
                   .memory_hidden = 24,
                   .feature_degree = c.degree,
                   .chunk = c.chunk,
                   .omega_window = c.omega};
  const Inputs in = make_inputs(shape, c.len, 7);
  const int64_t hd = shape.head_dim;

  HeadState cpu = initial_state(shape, in.w1_init.data(), in.w2_init.data());
  std::vector<float> y_cpu(static_cast<size_t>(c.len * hd));
  AtlasScratch scratch;
  run_head(shape, cpu, make_run(in, 0, c.len, y_cpu), scratch);

  StatusOr<std::unique_ptr<CudaAtlas>> atlas = CudaAtlas::create(0);
  ASSERT_TRUE(atlas.ok()) << atlas.status().to_string();
  // Two calls split at a chunk boundary, as two ranks of a chain would run it.
  const int64_t split = (c.len / 2) / c.chunk * c.chunk;
  HeadState gpu = initial_state(shape, in.w1_init.data(), in.w2_init.data());
  std::vector<float> y_gpu(y_cpu.size());
  ASSERT_TRUE((*atlas)->run_head(shape, gpu, make_run(in, 0, split, y_gpu)).ok());
  const Status second = (*atlas)->run_head(shape, gpu, make_run(in, split, c.len, y_gpu));
  ASSERT_TRUE(second.ok()) << second.to_string();

  for (float value : y_gpu) ASSERT_TRUE(std::isfinite(value));
  EXPECT_TRUE(close_to(y_gpu, y_cpu));
  EXPECT_TRUE(close_to(gpu.w1, cpu.w1));
  EXPECT_TRUE(close_to(gpu.w2, cpu.w2));
  EXPECT_TRUE(close_to(gpu.s1, cpu.s1));
  EXPECT_TRUE(close_to(gpu.s2, cpu.s2));
  EXPECT_EQ(gpu.tail, cpu.tail);
  EXPECT_EQ(gpu.tail_k, cpu.tail_k);
  EXPECT_EQ(gpu.tail_v, cpu.tail_v);
  EXPECT_EQ(gpu.tail_gamma, cpu.tail_gamma);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAtlasCase,
                         ::testing::Values(Case{1, 8, 3, 64}, Case{1, 16, 40, 100},
                                           Case{2, 8, 5, 48}, Case{1, 4, 1, 37}));

TEST_F(CudaAtlasGpu, EmptyRunOnlyMovesNothing) {
  AtlasShape shape{
      .head_dim = 8, .memory_hidden = 8, .feature_degree = 1, .chunk = 4, .omega_window = 2};
  const Inputs in = make_inputs(shape, 8, 3);
  HeadState state = initial_state(shape, in.w1_init.data(), in.w2_init.data());
  const HeadState before = state;
  std::vector<float> y(64);
  StatusOr<std::unique_ptr<CudaAtlas>> atlas = CudaAtlas::create(0);
  ASSERT_TRUE(atlas.ok());
  ASSERT_TRUE((*atlas)->run_head(shape, state, make_run(in, 0, 0, y)).ok());
  EXPECT_EQ(state.w1, before.w1);
  EXPECT_EQ(state.tail, 0);
}

}  // namespace
}  // namespace ringmaster::memory
