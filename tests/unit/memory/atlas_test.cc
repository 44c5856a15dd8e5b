// The chunk chain of one head (memory/atlas.h): against a float64 transcription of MODEL.md that
// sums the Omega loss literally over (t, i) pairs and calls nothing in memory/, and split at chunk
// boundaries with the state packed and unpacked in between (what a rank hands the next) against one
// unbroken run.
#include "memory/atlas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "memory/features.h"
#include "memory/newton_schulz.h"
#include "tests/testing/close.h"
#include "tests/unit/memory/atlas_inputs.h"
#include "tests/unit/memory/literal_atlas.h"

namespace ringmaster::memory {
namespace {

// Runs positions [begin, end) from `state`, writing y rows [begin, end).
void run(const Inputs& in, HeadState& state, int64_t begin, int64_t end, std::vector<float>& y) {
  AtlasScratch scratch;
  run_head(in.shape, state, make_run(in, begin, end, y), scratch);
}

// MODEL.md literally, in float64, written independently of memory/ (literal_atlas.h):
// L_C = sum_t sum_{i in window(t)} gamma_i |M(phi k_i) - v_i|^2, pair by pair.
std::vector<double> reference(const Inputs& in) { return literal::chain(in); }

class AtlasChain : public ::testing::TestWithParam<AtlasShape> {};

TEST_P(AtlasChain, MatchesLiteralFloat64Chain) {
  const Inputs in = make_inputs(GetParam(), 83, 3);
  HeadState state = initial_state(in.shape, in.w1_init.data(), in.w2_init.data());
  std::vector<float> y(static_cast<size_t>(in.len * in.shape.head_dim));
  run(in, state, 0, in.len, y);
  const std::vector<double> want = reference(in);
  EXPECT_TRUE(testing::all_close(y, want, 1e-5));
}

TEST_P(AtlasChain, SplitRunsWithPackedStateMatchOneRun) {
  const Inputs in = make_inputs(GetParam(), 83, 5);
  const int64_t c = in.shape.chunk;
  HeadState whole = initial_state(in.shape, in.w1_init.data(), in.w2_init.data());
  std::vector<float> y_whole(static_cast<size_t>(in.len * in.shape.head_dim));
  run(in, whole, 0, in.len, y_whole);

  // Pieces of one or more chunks, some shorter than the Omega window tail.
  std::vector<float> y_split(y_whole.size());
  std::vector<HeadState> states{initial_state(in.shape, in.w1_init.data(), in.w2_init.data())};
  const std::vector<int64_t> cuts{0, c, 2 * c, 5 * c, 6 * c, in.len};
  for (size_t p = 0; p + 1 < cuts.size(); ++p) {
    const int64_t at = std::min(in.len, cuts[p + 1]);
    if (cuts[p] >= at) continue;
    run(in, states[0], cuts[p], at, y_split);
    std::vector<float> wire(static_cast<size_t>(state_floats(in.shape, 1, at)));
    pack_states(states, wire.data());
    std::vector<HeadState> received(1);
    unpack_states(in.shape, at, wire.data(), received);
    states = std::move(received);
  }
  EXPECT_EQ(y_split, y_whole);
  EXPECT_EQ(states[0].w1, whole.w1);
  EXPECT_EQ(states[0].s2, whole.s2);
  EXPECT_EQ(states[0].tail_k, whole.tail_k);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AtlasChain,
    ::testing::Values(
        AtlasShape{
            .head_dim = 8, .memory_hidden = 12, .feature_degree = 1, .chunk = 8, .omega_window = 5},
        AtlasShape{.head_dim = 6,
                   .memory_hidden = 10,
                   .feature_degree = 2,
                   .chunk = 4,
                   .omega_window = 11},
        AtlasShape{
            .head_dim = 4, .memory_hidden = 6, .feature_degree = 1, .chunk = 1, .omega_window = 1},
        AtlasShape{.head_dim = 8,
                   .memory_hidden = 16,
                   .feature_degree = 1,
                   .chunk = 16,
                   .omega_window = 40}));

}  // namespace
}  // namespace ringmaster::memory
