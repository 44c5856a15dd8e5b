// The hand-written Omega gradient (memory/omega.h) against central finite differences of a loss
// written independently in the test, in float64, and the float path against the float64 one.
#include "memory/omega.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/testing/close.h"
#include "tests/unit/memory/literal_atlas.h"

namespace ringmaster::memory {
namespace {

struct Problem {
  MemoryDims dims;
  int64_t n;
  std::vector<double> w1, w2, u, v, weight;
};

Problem make_problem(MemoryDims dims, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 3.0);
  Problem p{dims, n, {}, {}, {}, {}, {}};
  auto fill = [&](std::vector<double>& x, int64_t count, double scale) {
    x.resize(static_cast<size_t>(count));
    for (double& e : x) e = scale * normal(rng);
  };
  fill(p.w1, dims.hidden * dims.d_phi, 1.0 / std::sqrt(double(dims.d_phi)));
  fill(p.w2, dims.d_v * dims.hidden, 1.0 / std::sqrt(double(dims.hidden)));
  fill(p.u, n * dims.d_phi, 0.5);
  fill(p.v, n * dims.d_v, 1.0);
  p.weight.resize(static_cast<size_t>(n));
  for (double& e : p.weight) e = uniform(rng);
  return p;
}

// The loss written afresh (literal_atlas.h), not memory/'s omega_loss: sum_i weight_i
// |M(u_i) - v_i|^2.
double loss(const Problem& p, const std::vector<double>& w1, const std::vector<double>& w2) {
  const literal::Dims d{p.dims.d_phi, p.dims.hidden, p.dims.d_v};
  double sum = 0;
  for (int64_t i = 0; i < p.n; ++i) {
    const std::vector<double> u(p.u.begin() + i * d.d_phi, p.u.begin() + (i + 1) * d.d_phi);
    sum += literal::loss_term(w1, w2, d, u, p.v.data() + i * d.d_v, p.weight[i]);
  }
  return sum;
}

using testing::all_close;

class OmegaGradient : public ::testing::TestWithParam<MemoryDims> {};

TEST_P(OmegaGradient, MatchesFiniteDifferences) {
  const Problem p = make_problem(GetParam(), 23, 7);
  const MemoryDims& dims = p.dims;
  std::vector<double> g1(p.w1.size()), g2(p.w2.size()), scratch;
  omega_gradient(p.w1.data(), p.w2.data(), dims, p.u.data(), p.v.data(), p.weight.data(), p.n,
                 g1.data(), g2.data(), scratch);

  const double h = 1e-6;
  auto numeric = [&](std::vector<double> w1, std::vector<double> w2, bool first) {
    std::vector<double>& w = first ? w1 : w2;
    std::vector<double> g(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      const double saved = w[i];
      w[i] = saved + h;
      const double up = loss(p, w1, w2);
      w[i] = saved - h;
      const double down = loss(p, w1, w2);
      w[i] = saved;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  };
  const std::vector<double> n1 = numeric(p.w1, p.w2, true), n2 = numeric(p.w1, p.w2, false);
  EXPECT_TRUE(all_close(g1, n1, 1e-7));
  EXPECT_TRUE(all_close(g2, n2, 1e-7));

  // The literal chain's own gradient (literal_atlas.h) passes the same check, so the chain test
  // in atlas_test.cc rests on finite differences, not on memory/.
  std::vector<double> l1(g1.size(), 0.0), l2(g2.size(), 0.0);
  const literal::Dims d{dims.d_phi, dims.hidden, dims.d_v};
  for (int64_t i = 0; i < p.n; ++i) {
    const std::vector<double> u(p.u.begin() + i * d.d_phi, p.u.begin() + (i + 1) * d.d_phi);
    literal::add_gradient(p.w1, p.w2, d, u, p.v.data() + i * d.d_v, p.weight[i], l1, l2);
  }
  EXPECT_TRUE(all_close(l1, n1, 1e-7));
  EXPECT_TRUE(all_close(l2, n2, 1e-7));

  // The float path stays within float rounding of the float64 one.
  auto to_float = [](const std::vector<double>& x) {
    return std::vector<float>(x.begin(), x.end());
  };
  const auto w1f = to_float(p.w1), w2f = to_float(p.w2), uf = to_float(p.u), vf = to_float(p.v),
             weightf = to_float(p.weight);
  std::vector<float> g1f(g1.size()), g2f(g2.size()), scratch_f;
  omega_gradient(w1f.data(), w2f.data(), dims, uf.data(), vf.data(), weightf.data(), p.n,
                 g1f.data(), g2f.data(), scratch_f);
  EXPECT_TRUE(all_close(g1f, g1, 1e-5));
  EXPECT_TRUE(all_close(g2f, g2, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Shapes, OmegaGradient,
                         ::testing::Values(MemoryDims{8, 16, 8}, MemoryDims{72, 12, 8},
                                           MemoryDims{5, 3, 7}));

TEST(OmegaGradient, NoTokensGiveZero) {
  const MemoryDims dims{4, 3, 2};
  std::vector<float> w1(12, 1.0f), w2(6, 1.0f), g1(12, 5.0f), g2(6, 5.0f), scratch;
  omega_gradient<float>(w1.data(), w2.data(), dims, nullptr, nullptr, nullptr, 0, g1.data(),
                        g2.data(), scratch);
  for (float g : g1) EXPECT_EQ(g, 0.0f);
  for (float g : g2) EXPECT_EQ(g, 0.0f);
}

}  // namespace
}  // namespace ringmaster::memory
