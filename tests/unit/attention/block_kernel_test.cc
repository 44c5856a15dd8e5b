// The CPU block kernel against a plain double-precision loop written here, for the properties
// that need no PyTorch: thread-count independence, run-to-run bit identity, errors, empty rows.
// The cross-check against the independent PyTorch oracle is reference_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <stop_token>
#include <vector>

#include "attention/attention.h"
#include "attention/backend.h"
#include "tests/testing/close.h"

namespace ringmaster::attention {
namespace {

struct Case {
  int64_t q_len, kv_len, n_heads, n_kv_heads, head_dim;
  MaskSpec mask;
};

struct Inputs {
  Tensor q, k, v;
  std::vector<int64_t> q_pos, k_pos;
  std::vector<int32_t> q_seq, k_seq;
  Positions qp() const { return {q_pos, q_seq}; }
  Positions kp() const { return {k_pos, k_seq}; }
};

Inputs make_inputs(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  auto fill = [&](Shape shape) {
    Tensor t = Tensor::empty(std::move(shape), DType::kF32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    return t;
  };
  Inputs in{fill({c.q_len, c.n_heads, c.head_dim}),
            fill({c.kv_len, c.n_kv_heads, c.head_dim}),
            fill({c.kv_len, c.n_kv_heads, c.head_dim}),
            {},
            {},
            {},
            {}};
  // Queries are the last q_len of the kv_len tokens, as in a causal self-attention block.
  for (int64_t i = 0; i < c.kv_len; ++i) in.k_pos.push_back(i);
  for (int64_t i = 0; i < c.q_len; ++i) in.q_pos.push_back(c.kv_len - c.q_len + i);
  return in;
}

// Plain softmax attention in double: the definition, one row at a time.
void naive(const Case& c, const Inputs& in, std::vector<double>& out, std::vector<double>& lse) {
  out.assign(static_cast<size_t>(c.q_len * c.n_heads * c.head_dim), 0.0);
  lse.assign(static_cast<size_t>(c.q_len * c.n_heads), -INFINITY);
  const int64_t d = c.head_dim, group = c.n_heads / c.n_kv_heads;
  for (int64_t i = 0; i < c.q_len; ++i) {
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const int64_t g = h / group;
      std::vector<double> s(static_cast<size_t>(c.kv_len), -INFINITY);
      double mx = -INFINITY;
      for (int64_t j = 0; j < c.kv_len; ++j) {
        if (is_hidden(c.mask, in.q_pos[i], in.qp().seq_of(i), in.k_pos[j], in.kp().seq_of(j)))
          continue;
        double dot = 0;
        for (int64_t x = 0; x < d; ++x) {
          dot += double{in.q.data<float>()[(i * c.n_heads + h) * d + x]} *
                 in.k.data<float>()[(j * c.n_kv_heads + g) * d + x];
        }
        s[j] = dot / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, s[j]);
      }
      if (mx == -INFINITY) continue;
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j < c.kv_len; ++j) {
        for (int64_t x = 0; x < d; ++x) {
          out[(i * c.n_heads + h) * d + x] +=
              s[j] / sum * in.v.data<float>()[(j * c.n_kv_heads + g) * d + x];
        }
      }
      lse[i * c.n_heads + h] = mx + std::log(sum);
    }
  }
}

void expect_matches_naive(const Case& c, int threads) {
  const Inputs in = make_inputs(c, 1234);
  ThreadPool pool(threads);
  auto result = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  std::vector<double> out, lse;
  naive(c, in, out, lse);
  const std::span<const float> got_out(result->out.data<float>(), out.size());
  EXPECT_TRUE(testing::all_close(got_out, out, 1e-5)) << c.mask.to_string();
  // lse: -inf exactly where every key is hidden; the finite rows compared as above.
  std::vector<double> got_lse, want_lse;
  for (size_t i = 0; i < lse.size(); ++i) {
    const float got = result->lse.data<float>()[i];
    if (std::isinf(lse[i])) {
      ASSERT_EQ(got, -INFINITY) << "row " << i;
    } else {
      got_lse.push_back(got);
      want_lse.push_back(lse[i]);
    }
  }
  EXPECT_TRUE(testing::all_close(got_lse, want_lse, 1e-5)) << c.mask.to_string();
}

TEST(BlockKernel, MatchesNaiveAcrossMasksAndShapes) {
  const std::vector<Case> cases = {
      {1, 1, 1, 1, 8, MaskSpec::none()},
      {1, 700, 2, 1, 64, {.causal = true}},
      {130, 130, 4, 2, 16, {.causal = true}},
      {200, 600, 4, 4, 24, MaskSpec::none()},
      {300, 1100, 2, 1, 64, {.causal = true, .window = 200}},
      {257, 257, 2, 2, 32, {.window = 50}},
      {257, 520, 4, 1, 32, {.causal = true, .group = 96}},
      {129, 129, 1, 1, 128, {.group = 40}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.q_len << "x" << c.kv_len << " " << c.mask.to_string());
    expect_matches_naive(c, 2);
  }
}

TEST(BlockKernel, SameBitsForAnyThreadCount) {
  const Case c{400, 1300, 4, 2, 64, {.causal = true}};
  const Inputs in = make_inputs(c, 5);
  std::vector<BlockResult> results;
  for (int threads : {1, 2, 3, 1}) {
    ThreadPool pool(threads);
    auto r = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
    ASSERT_TRUE(r.ok());
    results.push_back(std::move(*r));
  }
  for (const BlockResult& r : results) {
    EXPECT_EQ(std::memcmp(r.out.raw(), results[0].out.raw(), r.out.bytes()), 0);
    EXPECT_EQ(std::memcmp(r.lse.raw(), results[0].lse.raw(), r.lse.bytes()), 0);
  }
}

TEST(BlockKernel, FullyHiddenRowsAreEmpty) {
  Case c{5, 600, 2, 1, 16, {.causal = true}};
  Inputs in = make_inputs(c, 9);
  // Every key lies in the future of every query, and one query is in another sequence.
  in.q_pos = {0, 1, 2, 3, 4};
  for (auto& p : in.k_pos) p += 100;
  in.q_seq = {0, 0, 1, 0, 0};
  in.k_seq.assign(600, 0);
  ThreadPool pool(2);
  auto r = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
  ASSERT_TRUE(r.ok());
  for (int64_t i = 0; i < r->lse.numel(); ++i) EXPECT_EQ(r->lse.data<float>()[i], -INFINITY);
  for (int64_t i = 0; i < r->out.numel(); ++i) EXPECT_EQ(r->out.data<float>()[i], 0.0f);
}

TEST(BlockKernel, EmptyKeyBlockIsTheMergeIdentity) {
  Case c{3, 0, 2, 2, 8, MaskSpec::none()};
  const Inputs in = make_inputs(c, 3);
  ThreadPool pool(1);
  auto r = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (int64_t i = 0; i < r->lse.numel(); ++i) EXPECT_EQ(r->lse.data<float>()[i], -INFINITY);
}

TEST(BlockKernel, RejectsBadShapesWithAClearError) {
  const Case c{4, 4, 3, 2, 8, MaskSpec::none()};  // 3 heads over 2 kv heads
  const Inputs in = make_inputs(c, 1);
  ThreadPool pool(1);
  const auto r = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("multiple of n_kv_heads"), std::string::npos);
  std::vector<int64_t> short_pos = {0, 1};
  const Case ok_case{4, 4, 2, 2, 8, MaskSpec::none()};
  const Inputs ok_in = make_inputs(ok_case, 1);
  const auto bad_pos = attend_block(ok_in.q, ok_in.k, ok_in.v, Positions{short_pos, {}}, ok_in.kp(),
                                    ok_case.mask, pool);
  EXPECT_EQ(bad_pos.status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockKernel, AcceptsHalfPrecisionInputs) {
  const Case c{70, 300, 2, 1, 32, {.causal = true}};
  Inputs in = make_inputs(c, 21);
  ThreadPool pool(2);
  for (DType dtype : {DType::kBf16, DType::kF16}) {
    // The rounded values, widened back, are the f32 problem the half inputs stand for.
    Inputs rounded = in;
    rounded.q = to_f32(narrow_to(in.q, dtype));
    rounded.k = to_f32(narrow_to(in.k, dtype));
    rounded.v = to_f32(narrow_to(in.v, dtype));
    auto half = attend_block(narrow_to(in.q, dtype), narrow_to(in.k, dtype), narrow_to(in.v, dtype),
                             in.qp(), in.kp(), c.mask, pool);
    auto wide = attend_block(rounded.q, rounded.k, rounded.v, in.qp(), in.kp(), c.mask, pool);
    ASSERT_TRUE(half.ok() && wide.ok());
    EXPECT_EQ(std::memcmp(half->out.raw(), wide->out.raw(), wide->out.bytes()), 0);
  }
}

// bf16 compute (products on bf16 inputs and probabilities, f32 accumulation) stays within
// MODEL.md's bf16 tolerance of the double definition, over masks, odd tiles and GQA, through the
// CPU backend as a worker builds it; and it too is the same bits for any thread count.
TEST(BlockKernel, Bf16ComputeWithinBf16Tolerance) {
  const std::vector<Case> cases = {
      {1, 700, 2, 1, 64, {.causal = true}},
      {130, 130, 4, 2, 16, {.causal = true}},
      {200, 600, 4, 4, 24, MaskSpec::none()},
      {300, 1100, 2, 1, 64, {.causal = true, .window = 200}},
      {257, 520, 4, 1, 32, {.causal = true, .group = 96}},
      {600, 600, 2, 2, 128, {.causal = true}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.q_len << "x" << c.kv_len << " " << c.mask.to_string());
    const Inputs in = make_inputs(c, 77);
    std::vector<double> out, lse;
    naive(c, in, out, lse);
    std::vector<BlockResult> results;
    for (int threads : {2, 1}) {
      ThreadPool pool(threads);
      auto backend = make_cpu_backend(pool, {}, DType::kBf16);
      auto r = attend_block(*backend, in.q, in.k, in.v, in.qp(), in.kp(), c.mask);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      results.push_back(std::move(*r));
    }
    const std::span<const float> got(results[0].out.data<float>(), out.size());
    EXPECT_TRUE(testing::all_close(got, out, 2e-2));
    EXPECT_FALSE(testing::all_close(got, out, 1e-6)) << "bf16 compute ran in f32";
    EXPECT_EQ(std::memcmp(results[0].out.raw(), results[1].out.raw(), results[0].out.bytes()), 0);
    // bf16 inputs are what the tiles load from f32 ones: the same bits.
    ThreadPool pool(2);
    auto backend = make_cpu_backend(pool, {}, DType::kBf16);
    auto narrow =
        attend_block(*backend, narrow_to(in.q, DType::kBf16), narrow_to(in.k, DType::kBf16),
                     narrow_to(in.v, DType::kBf16), in.qp(), in.kp(), c.mask);
    ASSERT_TRUE(narrow.ok()) << narrow.status().to_string();
    EXPECT_EQ(std::memcmp(narrow->out.raw(), results[0].out.raw(), results[0].out.bytes()), 0);
  }
}

// core/cancel.h: a stopped kernel runs no tile and says kCancelled, directly and through the
// CPU backend; the same call with a token never stopped computes as before.
TEST(BlockKernel, StoppedTokenRunsNoTile) {
  const Case c{300, 900, 4, 2, 32, {.causal = true}};
  const Inputs in = make_inputs(c, 11);
  ThreadPool pool(2);
  std::stop_source source;
  source.request_stop();
  BlockResult result = make_empty_result(c.q_len, c.n_heads, c.head_dim);
  constexpr float kUntouched = 7.0f;
  std::fill_n(result.out.data<float>(), result.out.numel(), kUntouched);
  const Status status = attend_block_into(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool, result,
                                          source.get_token());
  EXPECT_EQ(status.code(), StatusCode::kCancelled) << status.to_string();
  for (int64_t i = 0; i < result.out.numel(); ++i) {
    ASSERT_EQ(result.out.data<float>()[i], kUntouched) << "a tile ran at element " << i;
  }

  const std::unique_ptr<AttentionBackend> stopped = make_cpu_backend(pool, source.get_token());
  EXPECT_EQ(stopped->attend_block_into(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, result).code(),
            StatusCode::kCancelled);

  std::stop_source never;
  const std::unique_ptr<AttentionBackend> running = make_cpu_backend(pool, never.get_token());
  ASSERT_TRUE(running->attend_block_into(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, result).ok());
  auto plain = attend_block(in.q, in.k, in.v, in.qp(), in.kp(), c.mask, pool);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(std::memcmp(result.out.raw(), plain->out.raw(), plain->out.bytes()), 0);
}

}  // namespace
}  // namespace ringmaster::attention
