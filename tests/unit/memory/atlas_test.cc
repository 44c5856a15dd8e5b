// The chunk chain of one head (memory/atlas.h): against a float64 transcription of MODEL.md that
// sums the Omega loss literally over (t, i) pairs, and split at chunk boundaries with the state
// packed and unpacked in between (what a rank hands the next) against one unbroken run.
#include "memory/atlas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "memory/features.h"
#include "memory/newton_schulz.h"
#include "tests/testing/close.h"
#include "tests/unit/memory/atlas_inputs.h"

namespace ringmaster::memory {
namespace {

// Runs positions [begin, end) from `state`, writing y rows [begin, end).
void run(const Inputs& in, HeadState& state, int64_t begin, int64_t end, std::vector<float>& y) {
  AtlasScratch scratch;
  run_head(in.shape, state, make_run(in, begin, end, y), scratch);
}

// MODEL.md literally, in float64: L_C = sum_t sum_{i in window(t)} gamma_i |M(phi k_i) - v_i|^2.
std::vector<double> reference(const Inputs& in) {
  const AtlasShape& s = in.shape;
  const int64_t hd = s.head_dim, dphi = s.d_phi(), n1 = s.memory_hidden * dphi,
                n2 = hd * s.memory_hidden;
  const MemoryDims dims = s.dims();
  std::vector<double> w1(in.w1_init.begin(), in.w1_init.end()),
      w2(in.w2_init.begin(), in.w2_init.end()), s1(w1.size(), 0.0), s2(w2.size(), 0.0);
  std::vector<double> y(static_cast<size_t>(in.len * hd)), scratch;
  auto phi = [&](int64_t t, int part) {
    std::vector<float> f(static_cast<size_t>(dphi));
    features(in.rows.data() + t * in.ld() + part * hd, 1, hd, hd, s.feature_degree, f.data());
    return std::vector<double>(f.begin(), f.end());
  };
  for (int64_t c0 = 0, c = 0; c0 < in.len; c0 += s.chunk, ++c) {
    const int64_t c1 = std::min(in.len, c0 + s.chunk);
    for (int64_t t = c0; t < c1; ++t) {
      const std::vector<double> u = phi(t, 0);
      memory_read(w1.data(), w2.data(), dims, u.data(), 1, y.data() + t * hd, hd, scratch);
    }
    std::vector<double> g1(w1.size(), 0.0), g2(w2.size(), 0.0), p1(w1.size()), p2(w2.size());
    for (int64_t t = c0; t < c1; ++t) {
      for (int64_t i = std::max<int64_t>(0, t - s.omega_window + 1); i <= t; ++i) {
        const std::vector<double> u = phi(i, 1);
        const float* row = in.rows.data() + i * in.ld();
        const std::vector<double> v(row + 2 * hd, row + 3 * hd);
        const double gamma = row[3 * hd];
        omega_gradient(w1.data(), w2.data(), dims, u.data(), v.data(), &gamma, 1, p1.data(),
                       p2.data(), scratch);
        for (int64_t j = 0; j < n1; ++j) g1[j] += p1[j];
        for (int64_t j = 0; j < n2; ++j) g2[j] += p2[j];
      }
    }
    const ChunkGates g = in.gates[static_cast<size_t>(c)];
    for (int64_t j = 0; j < n1; ++j) s1[j] = g.mom * s1[j] + g1[j];
    for (int64_t j = 0; j < n2; ++j) s2[j] = g.mom * s2[j] + g2[j];
    newton_schulz5(s1.data(), s.memory_hidden, dphi, p1.data(), scratch);
    newton_schulz5(s2.data(), hd, s.memory_hidden, p2.data(), scratch);
    for (int64_t j = 0; j < n1; ++j) w1[j] = g.keep * w1[j] - g.lr * p1[j];
    for (int64_t j = 0; j < n2; ++j) w2[j] = g.keep * w2[j] - g.lr * p2[j];
  }
  return y;
}

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
