// attend_visible (attention/decode_kernel.h) against a double-precision loop written here: few
// query rows over keys that cross several splits, GQA groups of 1, 2 and 4; thread-count
// independence (bit-identical for 1 and 3 threads); shape errors.
#include "attention/decode_kernel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tests/testing/close.h"

namespace ringmaster::attention {
namespace {

Tensor random_tensor(Shape shape, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

// out of every (query row, head) in double, no mask.
std::vector<double> plain_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t nq = q.dim(0), h = q.dim(1), d = q.dim(2), L = k.dim(0), hkv = k.dim(1);
  std::vector<double> out(static_cast<size_t>(nq * h * d), 0.0);
  for (int64_t i = 0; i < nq; ++i) {
    for (int64_t head = 0; head < h; ++head) {
      const int64_t g = head / (h / hkv);
      std::vector<double> s(static_cast<size_t>(L));
      double mx = -INFINITY;
      for (int64_t j = 0; j < L; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) {
          dot += double{q.const_data<float>()[(i * h + head) * d + c]} *
                 k.const_data<float>()[(j * hkv + g) * d + c];
        }
        s[static_cast<size_t>(j)] = dot / std::sqrt(double(d));
        mx = std::max(mx, s[static_cast<size_t>(j)]);
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j < L; ++j) {
        for (int64_t c = 0; c < d; ++c) {
          out[static_cast<size_t>((i * h + head) * d + c)] +=
              s[static_cast<size_t>(j)] / sum * v.const_data<float>()[(j * hkv + g) * d + c];
        }
      }
    }
  }
  return out;
}

TEST(AttendVisible, MatchesAPlainLoopAcrossSplitsAndGroups) {
  std::mt19937 rng(9);
  for (const auto [nq, heads, kv_heads, L] : std::vector<std::array<int64_t, 4>>{
           {1, 4, 2, 40000}, {3, 4, 4, 700}, {2, 8, 2, 16385}, {1, 4, 1, 1}}) {
    SCOPED_TRACE("q_len " + std::to_string(nq) + " heads " + std::to_string(heads) + "/" +
                 std::to_string(kv_heads) + " keys " + std::to_string(L));
    const Tensor q = random_tensor({nq, heads, 16}, rng), k = random_tensor({L, kv_heads, 16}, rng),
                 v = random_tensor({L, kv_heads, 16}, rng);
    ThreadPool pool(2);
    BlockResult got = make_empty_result(nq, heads, 16);
    ASSERT_TRUE(attend_visible(q, k, v, pool, got).ok());
    EXPECT_TRUE(testing::all_close(std::span<const float>(got.out.data<float>(), got.out.numel()),
                                   plain_attention(q, k, v), 1e-5));
    // lse agrees with the block kernel's.
    const std::vector<int64_t> qp(static_cast<size_t>(nq), L), kp(static_cast<size_t>(L), 0);
    auto want = attend_block(q, k, v, {qp, {}}, {kp, {}}, MaskSpec::none(), pool);
    ASSERT_TRUE(want.ok());
    EXPECT_TRUE(testing::all_close(
        std::span<const float>(got.lse.data<float>(), got.lse.numel()),
        std::span<const float>(want->lse.data<float>(), want->lse.numel()), 1e-6));
  }
}

TEST(AttendVisible, BitIdenticalForAnyThreadCount) {
  std::mt19937 rng(4);
  const Tensor q = random_tensor({1, 4, 32}, rng), k = random_tensor({50000, 2, 32}, rng),
               v = random_tensor({50000, 2, 32}, rng);
  ThreadPool one(1), three(3);
  BlockResult a = make_empty_result(1, 4, 32), b = make_empty_result(1, 4, 32);
  ASSERT_TRUE(attend_visible(q, k, v, one, a).ok());
  ASSERT_TRUE(attend_visible(q, k, v, three, b).ok());
  for (int64_t i = 0; i < a.out.numel(); ++i) {
    ASSERT_EQ(a.out.data<float>()[i], b.out.data<float>()[i]) << i;
  }
}

TEST(AttendVisible, RefusesShapesThatDoNotFit) {
  std::mt19937 rng(1);
  const Tensor q = random_tensor({1, 3, 16}, rng), k = random_tensor({10, 2, 16}, rng);
  ThreadPool pool(1);
  BlockResult r = make_empty_result(1, 3, 16);
  EXPECT_EQ(attend_visible(q, k, k, pool, r).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ringmaster::attention
