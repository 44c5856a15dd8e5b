// NS5 in float against an independent float64 implementation (plain loops, MODEL.md's order:
// normalise, then transpose a tall matrix), over wide, tall and square shapes.
#include "memory/newton_schulz.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/testing/close.h"

namespace ringmaster::memory {
namespace {

using Matrix = std::vector<double>;  // row-major

Matrix matmul(const Matrix& a, const Matrix& b, int64_t m, int64_t k, int64_t n) {
  Matrix c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < k; ++p) {
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += a[i * k + p] * b[p * n + j];
    }
  }
  return c;
}

Matrix transpose(const Matrix& a, int64_t rows, int64_t cols) {
  Matrix t(a.size());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
  }
  return t;
}

Matrix ns5_f64(Matrix x, int64_t rows, int64_t cols) {
  double norm = 0;
  for (double v : x) norm += v * v;
  for (double& v : x) v /= std::sqrt(norm) + 1e-7;
  const bool tall = rows > cols;
  if (tall) x = transpose(x, rows, cols);
  const int64_t r = tall ? cols : rows, s = tall ? rows : cols;
  for (int step = 0; step < 5; ++step) {
    const Matrix a = matmul(x, transpose(x, r, s), r, s, r);
    const Matrix aa = matmul(a, a, r, r, r);
    Matrix b(a.size());
    for (size_t i = 0; i < a.size(); ++i) b[i] = -4.7750 * a[i] + 2.0315 * aa[i];
    const Matrix bx = matmul(b, x, r, r, s);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 3.4445 * x[i] + bx[i];
  }
  return tall ? transpose(x, r, s) : x;
}

class NewtonSchulz : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(NewtonSchulz, FloatMatchesFloat64) {
  const auto [rows, cols] = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(rows * 131 + cols));
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> g(static_cast<size_t>(rows * cols)), out(g.size());
  for (float& v : g) v = normal(rng);
  const Matrix want = ns5_f64(Matrix(g.begin(), g.end()), rows, cols);

  std::vector<float> scratch;
  newton_schulz5(g.data(), rows, cols, out.data(), scratch);
  EXPECT_TRUE(testing::all_close(out, want, 2e-5)) << rows << "x" << cols;
  double energy = 0;
  for (const double w : want) energy += w * w;
  // Singular values end up in about [0.7, 1.2]: the mean square is in that range squared.
  const double mean_sq = energy / static_cast<double>(std::min(rows, cols));
  EXPECT_GT(mean_sq, 0.4);
  EXPECT_LT(mean_sq, 1.5);

  std::vector<double> gd(g.begin(), g.end()), outd(g.size()), scratch_d;
  newton_schulz5(gd.data(), rows, cols, outd.data(), scratch_d);
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(outd[i], want[i], 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Shapes, NewtonSchulz,
                         ::testing::Values(std::pair<int64_t, int64_t>{8, 20}, std::pair{20, 8},
                                           std::pair{32, 32}, std::pair{64, 32}, std::pair{32, 64},
                                           std::pair{16, 272}, std::pair{1, 5}));

TEST(NewtonSchulz, ZeroStaysZero) {
  std::vector<float> g(12, 0.0f), out(12, 1.0f), scratch;
  newton_schulz5(g.data(), 3, 4, out.data(), scratch);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace ringmaster::memory
