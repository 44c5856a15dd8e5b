// tests/unit/model/sampling_test.cc: model/sampling.h against MODEL.md "generate": SplitMix64's
// published outputs, the greedy, mask and top-k tie rules, sampled tokens and their log-probs
// against a table computed by the Python reference, and negative controls showing that the
// table tells MODEL.md's rule from plausible wrong ones (so a wrong rule cannot pass it).
#include "model/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

namespace ringmaster::model {
namespace {

using io::Vocab;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The logit rows of the golden table (tests/reference/sampling_golden.py says why each).
std::vector<float> golden_row(int row) {
  switch (row) {
    case 0:
      return {0.5f, 1.25f, -0.75f, 1.0f, 0.25f, 3.0f, -1.5f, 2.5f};
    case 1:
      return {0.5f, 1.25f, -0.75f, 1.0f, 0.25f, 3.0f, 1.5f, 2.5f};
    case 2: {
      std::vector<float> z(259);
      for (int j = 0; j < 259; ++j) z[j] = static_cast<float>((j * 37) % 101) / 16.0f - 3.0f;
      return z;
    }
    default:
      return {1.0f, 2.0f, 1.0f, 2.0f, 1.0f, 0.0f, 0.0f, 0.0f};
  }
}
Vocab golden_vocab(int row) { return row == 2 ? Vocab::kBytes : Vocab::kDna; }

struct Golden {
  int row;
  bool ignore_eos;
  double temperature;
  int64_t top_k;
  uint64_t seed;
  int64_t record;
  int64_t step;
  int32_t token;    // what the Python reference picks
  double log_prob;  // and its log-softmax of the raw row, in float64
};

// Made by the Python reference's own sampling rule (tests/reference/generate_ref.py, written from
// MODEL.md without this code): `/usr/bin/python3 tests/reference/sampling_golden.py` prints these
// lines. Every u is at least 8e-5 from a cumulative sum, so no pick rests on rounding.
constexpr Golden kGolden[] = {
    {0, false, 0.7, 0, 0u, 0, 0, 0, -3.2401641013787223},
    {0, false, 0.7, 0, 42u, 3, 17, 3, -2.7401641013787223},
    {0, false, 0.7, 0, 7u, 1, 5, 4, -3.4901641013787223},
    {0, false, 0.7, 0, 18446744073709551615u, 2, 9, 1, -2.4901641013787223},
    {0, false, 1.0, 2, 0u, 0, 0, 1, -2.4901641013787223},
    {0, false, 1.0, 2, 42u, 3, 17, 3, -2.7401641013787223},
    {0, false, 1.0, 2, 7u, 1, 5, 3, -2.7401641013787223},
    {0, false, 1.0, 2, 18446744073709551615u, 2, 9, 3, -2.7401641013787223},
    {0, false, 2.5, 3, 0u, 0, 0, 0, -3.2401641013787223},
    {0, false, 2.5, 3, 42u, 3, 17, 1, -2.4901641013787223},
    {0, false, 2.5, 3, 7u, 1, 5, 3, -2.7401641013787223},
    {0, false, 2.5, 3, 18446744073709551615u, 2, 9, 1, -2.4901641013787223},
    {0, false, 1.0, 0, 0u, 0, 0, 0, -3.2401641013787223},
    {0, false, 1.0, 0, 42u, 3, 17, 3, -2.7401641013787223},
    {0, false, 1.0, 0, 7u, 1, 5, 4, -3.4901641013787223},
    {0, false, 1.0, 0, 18446744073709551615u, 2, 9, 2, -4.490164101378722},
    {1, false, 0.7, 0, 0u, 0, 0, 1, -2.5865116054284205},
    {1, false, 0.7, 0, 42u, 3, 17, 4, -3.5865116054284205},
    {1, false, 0.7, 0, 7u, 1, 5, 6, -2.3365116054284205},
    {1, false, 0.7, 0, 18446744073709551615u, 2, 9, 4, -3.5865116054284205},
    {1, false, 1.0, 2, 0u, 0, 0, 1, -2.5865116054284205},
    {1, false, 1.0, 2, 42u, 3, 17, 6, -2.3365116054284205},
    {1, false, 1.0, 2, 7u, 1, 5, 6, -2.3365116054284205},
    {1, false, 1.0, 2, 18446744073709551615u, 2, 9, 6, -2.3365116054284205},
    {1, false, 2.5, 3, 0u, 0, 0, 1, -2.5865116054284205},
    {1, false, 2.5, 3, 42u, 3, 17, 3, -2.8365116054284205},
    {1, false, 2.5, 3, 7u, 1, 5, 6, -2.3365116054284205},
    {1, false, 2.5, 3, 18446744073709551615u, 2, 9, 3, -2.8365116054284205},
    {1, false, 1.0, 0, 0u, 0, 0, 1, -2.5865116054284205},
    {1, false, 1.0, 0, 42u, 3, 17, 4, -3.5865116054284205},
    {1, false, 1.0, 0, 7u, 1, 5, 6, -2.3365116054284205},
    {1, false, 1.0, 0, 18446744073709551615u, 2, 9, 3, -2.8365116054284205},
    {1, true, 0.7, 0, 0u, 0, 0, 0, -3.3365116054284205},
    {1, true, 0.7, 0, 42u, 3, 17, 3, -2.8365116054284205},
    {1, true, 0.7, 0, 7u, 1, 5, 4, -3.5865116054284205},
    {1, true, 0.7, 0, 18446744073709551615u, 2, 9, 1, -2.5865116054284205},
    {1, true, 1.0, 2, 0u, 0, 0, 1, -2.5865116054284205},
    {1, true, 1.0, 2, 42u, 3, 17, 3, -2.8365116054284205},
    {1, true, 1.0, 2, 7u, 1, 5, 3, -2.8365116054284205},
    {1, true, 1.0, 2, 18446744073709551615u, 2, 9, 3, -2.8365116054284205},
    {1, true, 2.5, 3, 0u, 0, 0, 0, -3.3365116054284205},
    {1, true, 2.5, 3, 42u, 3, 17, 1, -2.5865116054284205},
    {1, true, 2.5, 3, 7u, 1, 5, 3, -2.8365116054284205},
    {1, true, 2.5, 3, 18446744073709551615u, 2, 9, 1, -2.5865116054284205},
    {1, true, 1.0, 0, 0u, 0, 0, 0, -3.3365116054284205},
    {1, true, 1.0, 0, 42u, 3, 17, 3, -2.8365116054284205},
    {1, true, 1.0, 0, 7u, 1, 5, 4, -3.5865116054284205},
    {1, true, 1.0, 0, 18446744073709551615u, 2, 9, 2, -4.58651160542842},
    {2, false, 1.0, 0, 0u, 0, 0, 35, -4.796833362565135},
    {2, false, 1.0, 0, 42u, 3, 17, 158, -4.421833362565135},
    {2, false, 1.0, 0, 7u, 1, 5, 237, -4.796833362565135},
    {2, false, 1.0, 0, 18446744073709551615u, 2, 9, 144, -5.234333362565135},
    {2, false, 1.0, 0, 5u, 0, 1, 237, -4.796833362565135},
    {2, false, 1.0, 0, 9u, 4, 2, 19, -3.9218333625651343},
    {2, false, 0.5, 4, 0u, 0, 0, 30, -3.7343333625651343},
    {2, false, 0.5, 4, 42u, 3, 17, 131, -3.7343333625651343},
    {2, false, 0.5, 4, 7u, 1, 5, 232, -3.7343333625651343},
    {2, false, 0.5, 4, 18446744073709551615u, 2, 9, 131, -3.7343333625651343},
    {2, false, 0.5, 4, 5u, 0, 1, 232, -3.7343333625651343},
    {2, false, 0.5, 4, 9u, 4, 2, 30, -3.7343333625651343},
    {3, false, 1.0, 3, 0u, 0, 0, 0, -2.2555146571891562},
    {3, false, 1.0, 3, 42u, 3, 17, 3, -1.2555146571891562},
    {3, false, 1.0, 3, 7u, 1, 5, 3, -1.2555146571891562},
    {3, false, 1.0, 3, 18446744073709551615u, 2, 9, 1, -1.2555146571891562},
    {3, false, 1.0, 3, 5u, 0, 1, 3, -1.2555146571891562},
    {3, false, 1.0, 3, 9u, 4, 2, 0, -2.2555146571891562},
    {3, false, 3.0, 3, 0u, 0, 0, 0, -2.2555146571891562},
    {3, false, 3.0, 3, 42u, 3, 17, 1, -1.2555146571891562},
    {3, false, 3.0, 3, 7u, 1, 5, 3, -1.2555146571891562},
    {3, false, 3.0, 3, 18446744073709551615u, 2, 9, 1, -1.2555146571891562},
    {3, false, 3.0, 3, 5u, 0, 1, 3, -1.2555146571891562},
    {3, false, 3.0, 3, 9u, 4, 2, 0, -2.2555146571891562},
};

SamplingOptions options_of(const Golden& g) {
  return SamplingOptions{g.temperature, g.top_k, g.seed, g.ignore_eos};
}

TEST(Sampling, SplitMix64MatchesPublishedOutputs) {
  // SplitMix64 (Vigna's splitmix64.c) advances its state by 0x9E3779B97F4A7C15 and outputs
  // splitmix64(state before the add): from state 0, and from state 1234567.
  constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(splitmix64(kGamma), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(splitmix64(2 * kGamma), 0x06C45D188009454FULL);
  EXPECT_EQ(splitmix64(1234567), 6457827717110365317ULL);
  EXPECT_EQ(splitmix64(1234567 + kGamma), 3203168211198807973ULL);
  EXPECT_EQ(splitmix64(1234567 + 2 * kGamma), 9817491932198370423ULL);
}

TEST(Sampling, UniformIsMODELConstruction) {
  // The Python reference's uniform(seed, r, s), as exact hex doubles.
  EXPECT_EQ(uniform(0, 0, 0), 0x1.1c13ade1c7e5cp-3);
  EXPECT_EQ(uniform(42, 3, 17), 0x1.3cbf8ee3af0d6p-1);
  EXPECT_EQ(uniform(~0ULL, 1, 2), 0x1.bceaf7b4e8ef0p-2);
  const uint64_t x = splitmix64(splitmix64(splitmix64(9) ^ 4) ^ 2);
  EXPECT_EQ(uniform(9, 4, 2), std::ldexp(static_cast<double>(x >> 11), -53));
  // Record and step are not interchangeable, and every value is in [0, 1).
  EXPECT_NE(uniform(9, 4, 2), uniform(9, 2, 4));
  double sum = 0;
  for (uint64_t s = 0; s < 10000; ++s) {
    const double u = uniform(5, 1, s);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.01);
}

TEST(Sampling, GreedyTakesTheLowestIdOnTies) {
  const std::vector<float> two_max = {0.5f, 2.0f, 1.0f, 2.0f, 1.0f, -1.0f, -1.0f, -1.0f};
  EXPECT_EQ(choose_next(two_max, Vocab::kDna, {}, 0, 0).token, 1);
  const std::vector<float> flat(8, 0.25f);
  EXPECT_EQ(choose_next(flat, Vocab::kDna, {}, 0, 0).token, 0);
  // bytes: ids 30, 131 and 232 share the largest value.
  EXPECT_EQ(choose_next(golden_row(2), Vocab::kBytes, {}, 3, 7).token, 30);
}

TEST(Sampling, GreedyMasksBosAndPadAndEosOnlyWithIgnoreEos) {
  // <bos> 5 and <pad> 7 are the largest; then <eos> 6, then id 3.
  const std::vector<float> z = {0.0f, 1.0f, 0.5f, 2.0f, -1.0f, 9.0f, 4.0f, 8.0f};
  EXPECT_EQ(choose_next(z, Vocab::kDna, {}, 0, 0).token, io::eos_id(Vocab::kDna));
  SamplingOptions ignore_eos;
  ignore_eos.ignore_eos = true;
  EXPECT_EQ(choose_next(z, Vocab::kDna, ignore_eos, 0, 0).token, 3);
  std::vector<float> bytes(259, 0.0f);
  bytes[256] = bytes[258] = 5.0f;  // <bos>, <pad>
  bytes[200] = 1.0f;
  EXPECT_EQ(choose_next(bytes, Vocab::kBytes, {}, 0, 0).token, 200);
}

TEST(Sampling, SamplingNeverDrawsAMaskedId) {
  // The specials carry almost all the unmasked mass; 500 draws must still avoid them.
  const std::vector<float> z = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 30.0f, 30.0f, 30.0f};
  SamplingOptions options{1.0, 0, 11, true};
  std::set<int32_t> drawn;
  for (int64_t step = 0; step < 500; ++step) {
    drawn.insert(choose_next(z, Vocab::kDna, options, 2, step).token);
  }
  EXPECT_EQ(drawn, (std::set<int32_t>{0, 1, 2, 3, 4}));
  options.ignore_eos = false;  // now <eos> takes nearly all of it
  EXPECT_EQ(choose_next(z, Vocab::kDna, options, 2, 0).token, io::eos_id(Vocab::kDna));
}

TEST(Sampling, TopKOrdersByValueThenLowestId) {
  // Ids 1 and 3 at 2, ids 0, 2, 4 at 1: top-3 keeps 1, 3 and the lowest of the 1s, id 0. A high
  // temperature makes the kept three nearly equally likely, so 300 draws show the kept set.
  const std::vector<float> z = golden_row(3);
  const SamplingOptions options{100.0, 3, 4, false};
  std::set<int32_t> drawn;
  for (int64_t step = 0; step < 300; ++step) {
    drawn.insert(choose_next(z, Vocab::kDna, options, 0, step).token);
  }
  EXPECT_EQ(drawn, (std::set<int32_t>{0, 1, 3}));
  // top-1 is greedy at any temperature.
  for (int64_t step = 0; step < 20; ++step) {
    EXPECT_EQ(choose_next(z, Vocab::kDna, {7.0, 1, 9, false}, 1, step).token, 1);
  }
}

TEST(Sampling, MatchesThePythonReferenceTable) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(::testing::Message()
                 << "row " << g.row << " T " << g.temperature << " K " << g.top_k << " seed "
                 << g.seed << " r " << g.record << " s " << g.step);
    const Choice choice =
        choose_next(golden_row(g.row), golden_vocab(g.row), options_of(g), g.record, g.step);
    EXPECT_EQ(choice.token, g.token);
    EXPECT_NEAR(choice.log_prob, g.log_prob, 1e-12);
  }
}

TEST(Sampling, LogProbIsLogSoftmaxOfTheRawLogits) {
  // A bytes row in [-10, 10] with large special logits: the log-prob must count them even though
  // they are masked. Direct: log(exp(z_t) / sum_j exp(z_j)) in long double, no max shift.
  std::vector<float> z(259);
  for (int j = 0; j < 259; ++j) z[j] = static_cast<float>(std::sin(j * 1.7) * 10.0);
  z[256] = z[258] = 9.5f;
  long double sum = 0;
  for (const float v : z) sum += std::exp(static_cast<long double>(v));
  for (const SamplingOptions& options :
       {SamplingOptions{}, SamplingOptions{0.8, 0, 3, false}, SamplingOptions{1.5, 7, 8, true}}) {
    for (int64_t step = 0; step < 10; ++step) {
      const Choice choice = choose_next(z, Vocab::kBytes, options, 1, step);
      const long double direct =
          std::log(std::exp(static_cast<long double>(z[choice.token])) / sum);
      EXPECT_NEAR(choice.log_prob, static_cast<double>(direct), 1e-12);
    }
  }
}

// --- Negative controls ------------------------------------------------------------------------
// A small transcription of MODEL.md's rule with switches that each break one part of it. With
// every switch off it must reproduce the golden table (so the transcription is faithful); with
// any one on it must disagree with the table somewhere, which shows the table would catch that
// mistake in choose_next.
struct Mistakes {
  bool no_special_mask = false;      // <bos> and <pad> left in
  bool eos_kept = false;             // --ignore-eos ignored
  bool top_k_highest_id = false;     // top-k ties to the highest id
  bool record_step_swapped = false;  // uniform(seed, s, r)
  bool temperature_ignored = false;  // softmax of the unscaled logits
};

int32_t transcribed_rule(const Golden& g, const Mistakes& m) {
  const Vocab vocab = golden_vocab(g.row);
  const std::vector<float> raw = golden_row(g.row);
  std::vector<double> z(raw.begin(), raw.end());
  if (!m.no_special_mask) z[io::bos_id(vocab)] = z[io::pad_id(vocab)] = -kInf;
  if (g.ignore_eos && !m.eos_kept) z[io::eos_id(vocab)] = -kInf;
  if (!m.temperature_ignored) {
    for (double& v : z) v /= g.temperature;
  }
  if (g.top_k > 0) {
    std::vector<int32_t> order(z.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return z[a] > z[b] || (z[a] == z[b] && (m.top_k_highest_id ? a > b : a < b));
    });
    for (size_t k = static_cast<size_t>(g.top_k); k < order.size(); ++k) z[order[k]] = -kInf;
  }
  const double max = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (const double v : z) sum += std::exp(v - max);
  const double u =
      m.record_step_swapped ? uniform(g.seed, g.step, g.record) : uniform(g.seed, g.record, g.step);
  double cumulative = 0;
  for (size_t j = 0; j < z.size(); ++j) {
    cumulative += std::exp(z[j] - max) / sum;
    if (cumulative > u) return static_cast<int32_t>(j);
  }
  return -1;
}

int count_disagreements(const Mistakes& m) {
  int count = 0;
  for (const Golden& g : kGolden) count += transcribed_rule(g, m) != g.token;
  return count;
}

TEST(SamplingNegativeControl, TheTableRejectsEachWrongRule) {
  ASSERT_EQ(count_disagreements({}), 0) << "the transcription itself is off";
  EXPECT_GT(count_disagreements({.no_special_mask = true}), 0);
  EXPECT_GT(count_disagreements({.eos_kept = true}), 0);
  EXPECT_GT(count_disagreements({.top_k_highest_id = true}), 0);
  EXPECT_GT(count_disagreements({.record_step_swapped = true}), 0);
  EXPECT_GT(count_disagreements({.temperature_ignored = true}), 0);
}

TEST(SamplingNegativeControl, LogProbsOfMaskedLogitsWouldFail) {
  // Rows 0 and 1 give <bos> and <pad> most of the raw mass: a log-prob taken after masking is
  // far from the table's, so MatchesThePythonReferenceTable pins "raw logits".
  for (const Golden& g : kGolden) {
    if (g.row > 1) continue;
    const std::vector<float> z = golden_row(g.row);
    const auto masked_out = [&g](int j) {
      return j == io::bos_id(Vocab::kDna) || j == io::pad_id(Vocab::kDna) ||
             (g.ignore_eos && j == io::eos_id(Vocab::kDna));
    };
    double sum = 0;
    for (int j = 0; j < 8; ++j) {
      if (!masked_out(j)) sum += std::exp(static_cast<double>(z[j]));
    }
    const double masked = z[g.token] - std::log(sum);
    EXPECT_GT(std::abs(masked - g.log_prob), 0.5) << g.token;
  }
}

}  // namespace
}  // namespace ringmaster::model
