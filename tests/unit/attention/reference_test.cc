// reference_test.cc: attend_block against a float64 PyTorch oracle, and merged blocks vs one call.
//
// The oracle is tests/reference/attention_ref.py, written from MODEL.md rather than from the
// kernel. It runs once per process for every case: importing torch costs seconds and ctest runs
// each test in its own process, so all cases live in one test that names a failing case through
// SCOPED_TRACE. A missing torch fails that test rather than skipping it, because the bootstrap
// installs torch before the tests run. The merge test needs no Python.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "attention/attention.h"
#include "attention/masks.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/npy.h"
#include "tests/testing/close.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::attention {
namespace {

constexpr double kTolerance = 1e-5;  // fp32 kernel vs float64 oracle, relative to max |ref|
constexpr int kThreads = 2;          // the test machine's cores; also exercises the pool

// How a case lays out positions and sequence ids.
enum class Layout {
  kContiguous,     // one sequence; q at q_offset + i, k at k_offset + j; seq ids left empty
  kPacked,         // several sequences in one block (ids from 2), positions restart at 0
  kZigzag,         // q = k = chunks r and 2P-1-r of a sequence cut into 2P chunks (ring step 0)
  kStripeZigzag,   // q: stripe r + P*i of a long sequence; k: a zigzag chunk pair
  kShuffled,       // q, k: random distinct positions in random order, random ids in {0, 1}
  kOtherSequence,  // q in sequence 0, k in sequence 1: every key hidden
};

struct CaseSpec {
  std::string name;
  int64_t q_len, kv_len, n_heads, n_kv_heads, head_dim;
  MaskSpec mask;
  Layout layout = Layout::kContiguous;
  int64_t q_offset = 0;  // kContiguous only
  int64_t k_offset = 0;
  DType dtype = DType::kF32;
  double q_scale = 2.0;  // scores have standard deviation ~q_scale: peaked but not one-hot
};

MaskSpec causal() { return {.causal = true}; }
MaskSpec window(int64_t w, bool is_causal) { return {.causal = is_causal, .window = w}; }
MaskSpec group(int64_t n, bool is_causal) { return {.causal = is_causal, .group = n}; }
MaskSpec window_group(int64_t w, int64_t n, bool is_causal) {
  return {.causal = is_causal, .window = w, .group = n};
}

// Every oracle case. Tiles are 128 queries x 512 keys, so 1, 7, 130, 333, 513 and 1000 land
// on, just past and between tile edges.
std::vector<CaseSpec> oracle_cases() {
  using L = Layout;
  const MaskSpec none = MaskSpec::none();
  return {
      // Lengths and shapes.
      {"single_token", 1, 1, 4, 2, 64, causal()},
      {"decode_one_query", 1, 333, 4, 1, 128, causal(), L::kContiguous, 332},
      {"len7_none_d24", 7, 7, 2, 2, 24, none},
      {"len130_causal_mha", 130, 130, 4, 4, 64, causal()},
      {"len333_causal_gqa4_d40", 333, 333, 4, 1, 40, causal()},
      {"len1000_causal_gqa2_d128", 1000, 1000, 4, 2, 128, causal()},
      {"q130_kv1000_none_tail", 130, 1000, 4, 2, 64, none, L::kContiguous, 870},
      {"q129_kv513_none", 129, 513, 4, 1, 24, none},
      {"len7_kv130_causal_d17", 7, 130, 2, 1, 17, causal(), L::kContiguous, 123},
      {"len130_none_d1", 130, 130, 2, 2, 1, none},
      // Sliding windows.
      {"window64_causal", 333, 333, 4, 2, 64, window(64, true)},
      {"window1_causal_self_only", 130, 130, 2, 1, 24, window(1, true)},
      {"window50_bidirectional", 333, 333, 4, 4, 40, window(50, false)},
      {"window700_bidirectional_q_tail", 333, 1000, 4, 2, 64, window(700, false), L::kContiguous,
       667},
      {"window600_causal_long", 1000, 1000, 4, 1, 40, window(600, true)},
      // FIT local groups.
      {"group64_causal", 333, 333, 4, 2, 64, group(64, true)},
      {"group100_bidirectional", 333, 333, 4, 1, 40, group(100, false)},
      {"group1_bidirectional_self_only", 130, 130, 2, 2, 24, group(1, false)},
      {"group512_bidirectional_long", 1000, 1000, 4, 2, 64, group(512, false)},
      // Combinations.
      {"window40_group96_causal", 1000, 1000, 4, 2, 64, window_group(40, 96, true)},
      {"window30_group50_bidirectional", 333, 333, 4, 4, 40, window_group(30, 50, false)},
      // Every key, or every key of some rows, hidden.
      {"all_hidden_other_sequence", 130, 333, 4, 2, 64, none, L::kOtherSequence},
      {"all_hidden_causal_future_keys", 7, 130, 4, 2, 64, causal(), L::kContiguous, 0, 7},
      {"all_hidden_window_far_keys", 130, 130, 4, 1, 40, window(64, false), L::kContiguous, 0,
       1000},
      {"first_rows_hidden_causal", 333, 333, 4, 2, 64, causal(), L::kContiguous, 0, 100},
      // Several sequences in one block.
      {"packed_causal", 1000, 1000, 4, 2, 64, causal(), L::kPacked},
      {"packed_none", 333, 333, 4, 1, 40, none, L::kPacked},
      {"packed_window20_causal", 333, 333, 4, 2, 24, window(20, true), L::kPacked},
      {"packed_group16_causal", 333, 333, 4, 2, 64, group(16, true), L::kPacked},
      // Positions that are not contiguous.
      {"zigzag_causal", 1000, 1000, 4, 2, 64, causal(), L::kZigzag},
      {"zigzag_window100_causal", 333, 333, 4, 1, 40, window(100, true), L::kZigzag},
      {"stripe_q_zigzag_k_causal", 250, 500, 4, 2, 64, causal(), L::kStripeZigzag},
      {"stripe_q_zigzag_k_window100_causal", 250, 500, 4, 2, 24, window(100, true),
       L::kStripeZigzag},
      {"stripe_q_zigzag_k_group32_bidirectional", 250, 500, 4, 4, 40, group(32, false),
       L::kStripeZigzag},
      {"shuffled_causal", 333, 1000, 4, 2, 64, causal(), L::kShuffled},
      {"shuffled_window40_group64_bidirectional", 333, 333, 4, 1, 40, window_group(40, 64, false),
       L::kShuffled},
      // Narrow input types (the oracle sees the rounded values).
      {"bf16_causal", 333, 333, 4, 2, 64, causal(), L::kContiguous, 0, 0, DType::kBf16},
      {"bf16_packed_window20", 333, 333, 4, 2, 128, window(20, true), L::kPacked, 0, 0,
       DType::kBf16},
      {"f16_len1000_causal", 1000, 1000, 4, 1, 64, causal(), L::kContiguous, 0, 0, DType::kF16},
      {"f16_zigzag_none_d40", 130, 130, 4, 2, 40, none, L::kZigzag, 0, 0, DType::kF16},
      {"bf16_single_token", 1, 1, 4, 1, 24, none, L::kContiguous, 0, 0, DType::kBf16},
      // Scores up to ~100, past exp's f32 range (88.7): only a max-subtracted softmax survives.
      // Larger is unfair to any fp32 kernel: a score s carries rounding ~|s| * 2^-24 * sqrt(d),
      // which the softmax passes on, so at |s| ~ 300 fp32 scores alone miss by ~2e-5.
      {"large_scores_causal", 333, 333, 4, 2, 64, causal(), L::kContiguous, 0, 0, DType::kF32,
       16.0},
  };
}

// A case's inputs, exactly as the kernel sees them, and the oracle's answer.
struct Case {
  CaseSpec spec;
  Tensor q, k, v;  // [len, heads, head_dim] in spec.dtype
  std::vector<int64_t> q_pos, k_pos;
  std::vector<int32_t> q_seq, k_seq;
  std::vector<double> ref_out;  // [q_len, n_heads, head_dim]
  std::vector<double> ref_lse;  // [q_len, n_heads], natural log

  // kContiguous passes empty sequence ids, exercising the "all in sequence 0" default.
  Positions q_positions() const {
    return {q_pos, spec.layout == Layout::kContiguous ? std::span<const int32_t>{} : q_seq};
  }
  Positions k_positions() const {
    return {k_pos, spec.layout == Layout::kContiguous ? std::span<const int32_t>{} : k_seq};
  }
};

// Random normal values, scaled, then rounded to `dtype` when it is narrow.
Tensor random_tensor(Shape shape, double scale, DType dtype, std::mt19937& rng) {
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(scale));
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = normal(rng);
  return dtype == DType::kF32 ? t : narrow_to(t, dtype);
}

std::vector<double> to_f64(const Tensor& t) {
  const Tensor wide = to_f32(t);
  const float* data = wide.data<float>();
  return std::vector<double>(data, data + wide.numel());
}

// Cuts `len` tokens into 1..5 sequences of random lengths; positions restart at 0 in each.
void packed_positions(int64_t len, std::mt19937& rng, std::vector<int64_t>& pos,
                      std::vector<int32_t>& seq) {
  std::uniform_int_distribution<int64_t> cut(1, std::max<int64_t>(1, len - 1));
  std::vector<int64_t> cuts;
  for (int i = 0; i < 4 && len > 1; ++i) cuts.push_back(cut(rng));
  cuts.push_back(len);
  std::sort(cuts.begin(), cuts.end());
  int32_t id = 2;  // not starting at 0 catches code that assumes ids are indices
  int64_t start = 0;
  for (int64_t end : cuts) {
    for (int64_t i = start; i < end; ++i) {
      pos.push_back(i - start);
      seq.push_back(id);
    }
    if (end > start) ++id;
    start = end;
  }
}

// Rank `rank`'s zigzag pair (chunks rank and 2P-1-rank, chunk size len/2) of a sequence.
std::vector<int64_t> zigzag_positions(int64_t len, int64_t ranks, int64_t rank) {
  const int64_t first = len / 2;
  std::vector<int64_t> pos;
  for (int64_t i = 0; i < first; ++i) pos.push_back(rank * first + i);
  for (int64_t i = 0; i < len - first; ++i) pos.push_back((2 * ranks - 1 - rank) * first + i);
  return pos;
}

// `count` distinct positions below `range`, in random order.
std::vector<int64_t> shuffled_positions(int64_t count, int64_t range, std::mt19937& rng) {
  std::vector<int64_t> all(static_cast<size_t>(range));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(count));
  return all;
}

void fill_positions(Case& c, std::mt19937& rng) {
  const CaseSpec& s = c.spec;
  switch (s.layout) {
    case Layout::kContiguous:
    case Layout::kOtherSequence:
      for (int64_t i = 0; i < s.q_len; ++i) c.q_pos.push_back(s.q_offset + i);
      for (int64_t j = 0; j < s.kv_len; ++j) c.k_pos.push_back(s.k_offset + j);
      break;
    case Layout::kPacked:
      RM_CHECK(s.q_len == s.kv_len) << s.name;
      packed_positions(s.q_len, rng, c.q_pos, c.q_seq);
      c.k_pos = c.q_pos;
      c.k_seq = c.q_seq;
      break;
    case Layout::kZigzag:
      RM_CHECK(s.q_len == s.kv_len) << s.name;
      c.q_pos = zigzag_positions(s.q_len, 4, 1);
      c.k_pos = c.q_pos;
      break;
    case Layout::kStripeZigzag:
      for (int64_t i = 0; i < s.q_len; ++i) c.q_pos.push_back(1 + 4 * i);
      c.k_pos = zigzag_positions(s.kv_len, 4, 2);
      break;
    case Layout::kShuffled: {
      const int64_t range = 2 * std::max(s.q_len, s.kv_len);
      c.q_pos = shuffled_positions(s.q_len, range, rng);
      c.k_pos = shuffled_positions(s.kv_len, range, rng);
      std::bernoulli_distribution coin(0.5);
      for (int64_t i = 0; i < s.q_len; ++i) c.q_seq.push_back(coin(rng) ? 1 : 0);
      for (int64_t j = 0; j < s.kv_len; ++j) c.k_seq.push_back(coin(rng) ? 1 : 0);
      break;
    }
  }
  if (c.q_seq.empty()) c.q_seq.assign(c.q_pos.size(), 0);
  if (c.k_seq.empty()) c.k_seq.assign(c.k_pos.size(), s.layout == Layout::kOtherSequence ? 1 : 0);
}

Case make_case(const CaseSpec& spec, uint32_t seed) {
  std::mt19937 rng(seed);
  Case c;
  c.spec = spec;
  c.q = random_tensor({spec.q_len, spec.n_heads, spec.head_dim}, spec.q_scale, spec.dtype, rng);
  c.k = random_tensor({spec.kv_len, spec.n_kv_heads, spec.head_dim}, 1.0, spec.dtype, rng);
  c.v = random_tensor({spec.kv_len, spec.n_kv_heads, spec.head_dim}, 1.0, spec.dtype, rng);
  fill_positions(c, rng);
  return c;
}

std::string write_case(const Case& c, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  auto write_f64 = [&](const char* name, const Tensor& t) {
    const std::vector<double> values = to_f64(t);  // the rounded values when t is bf16/f16
    return io::write_npy((dir / name).string(), values.data(), t.shape(), "<f8");
  };
  auto write_ints = [&](const char* name, const auto& values, const char* descr) {
    return io::write_npy((dir / name).string(), values.data(),
                         {static_cast<int64_t>(values.size())}, descr);
  };
  for (const Status& s :
       {write_f64("q.npy", c.q), write_f64("k.npy", c.k), write_f64("v.npy", c.v),
        write_ints("q_pos.npy", c.q_pos, "<i8"), write_ints("k_pos.npy", c.k_pos, "<i8"),
        write_ints("q_seq.npy", c.q_seq, "<i4"), write_ints("k_seq.npy", c.k_seq, "<i4")}) {
    if (!s.ok()) return s.to_string();
  }
  std::ofstream mask(dir / "mask.json");
  mask << "{\"causal\": " << (c.spec.mask.causal ? "true" : "false")
       << ", \"window\": " << c.spec.mask.window << ", \"group\": " << c.spec.mask.group << "}\n";
  return mask ? "" : "cannot write " + (dir / "mask.json").string();
}

// Reads a float64 npy of `numel` elements into `values`; "" or an error message.
std::string read_result(const std::filesystem::path& path, int64_t numel,
                        std::vector<double>& values) {
  StatusOr<io::NpyArray> array = io::read_npy(path.string());
  if (!array.ok()) return array.status().to_string();
  if (shape_numel(array->shape) != numel) {
    return path.string() + " has shape " + shape_to_string(array->shape);
  }
  StatusOr<std::vector<double>> wide = array->to_f64();
  if (!wide.ok()) return wide.status().to_string();
  values = std::move(wide).value();
  return "";
}

struct Errors {
  double out_rel = 0.0;  // max |got - want| / max |want| over out
  double lse_rel = 0.0;  // the same over finite lse, the scale floored at 1
};

// Compares a kernel result with an expected one: no NaN, -inf exactly where `want_lse` has it
// (with an all-zero output row there), and both relative errors within kTolerance.
::testing::AssertionResult matches(const BlockResult& got, std::span<const double> want_out,
                                   std::span<const double> want_lse, Errors& errors) {
  const std::vector<double> out = to_f64(got.out);
  const std::vector<double> lse = to_f64(got.lse);
  if (out.size() != want_out.size() || lse.size() != want_lse.size()) {
    return ::testing::AssertionFailure() << "result shapes " << got.out.to_string() << ", "
                                         << got.lse.to_string() << " differ from the reference";
  }
  const size_t head_dim = static_cast<size_t>(got.out.dim(-1));
  std::vector<double> got_lse, finite_want_lse;  // the rows with a visible key
  for (size_t r = 0; r < lse.size(); ++r) {
    const bool want_empty = std::isinf(want_lse[r]);
    if (std::isnan(lse[r]) || (lse[r] == -INFINITY) != want_empty || lse[r] == INFINITY) {
      return ::testing::AssertionFailure() << "row " << r / static_cast<size_t>(got.lse.dim(1))
                                           << " head " << r % static_cast<size_t>(got.lse.dim(1))
                                           << ": lse " << lse[r] << ", reference " << want_lse[r];
    }
    if (!want_empty) {
      got_lse.push_back(lse[r]);
      finite_want_lse.push_back(want_lse[r]);
    }
    for (size_t d = r * head_dim; d < (r + 1) * head_dim; ++d) {
      if (std::isnan(out[d]) || (want_empty && out[d] != 0.0)) {
        return ::testing::AssertionFailure() << "out[" << d << "] = " << out[d] << ", reference "
                                             << want_out[d] << " (lse " << want_lse[r] << ")";
      }
    }
  }
  // lse is a log: near 0 its relative error says nothing, so its scale never drops below 1.
  const testing::Closeness out_close = testing::closeness(out, want_out);
  const testing::Closeness lse_close = testing::closeness(got_lse, finite_want_lse, 1.0);
  errors.out_rel = out_close.rel;
  errors.lse_rel = lse_close.rel;
  if (!out_close.ok()) return ::testing::AssertionFailure() << "out: " << out_close.where;
  if (!lse_close.ok()) return ::testing::AssertionFailure() << "lse: " << lse_close.where;
  if (errors.out_rel > kTolerance || errors.lse_rel > kTolerance) {
    return ::testing::AssertionFailure() << "relative error out " << errors.out_rel << ", lse "
                                         << errors.lse_rel << " (tolerance " << kTolerance << ")";
  }
  return ::testing::AssertionSuccess();
}

// A result whose every element is NaN, so attend_block_into must write all of it.
BlockResult make_poisoned_result(int64_t q_len, int64_t n_heads, int64_t head_dim) {
  BlockResult r{Tensor::empty({q_len, n_heads, head_dim}, DType::kF32),
                Tensor::empty({q_len, n_heads}, DType::kF32)};
  for (Tensor* t : {&r.out, &r.lse}) std::fill_n(t->data<float>(), t->numel(), NAN);
  return r;
}

class AttentionReference : public ::testing::Test {
 protected:
  // Builds every case, writes its inputs, runs the oracle once and loads its answers.
  static void SetUpTestSuite() {
    cases_ = new std::vector<Case>();
    oracle_error_ = new std::string();
    dir_ = new testing::TempDir();

    const std::vector<CaseSpec> specs = oracle_cases();
    for (size_t i = 0; i < specs.size(); ++i) {
      cases_->push_back(make_case(specs[i], static_cast<uint32_t>(1000 + i)));
      const std::string error = write_case(cases_->back(), case_dir(i));
      if (!error.empty()) {
        *oracle_error_ = "writing " + specs[i].name + ": " + error;
        return;
      }
    }
    const std::string command = "/usr/bin/python3 '" RINGMASTER_SOURCE_DIR
                                "/tests/reference/attention_ref.py' '" +
                                dir_->path().string() + "'";
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      *oracle_error_ = "oracle failed (wait status " + std::to_string(status) + "): " + command +
                       "\n(does /usr/bin/python3 import torch and numpy?)";
      return;
    }
    for (size_t i = 0; i < cases_->size(); ++i) {
      Case& c = (*cases_)[i];
      const int64_t rows = c.spec.q_len * c.spec.n_heads;
      std::string error = read_result(case_dir(i) / "out.npy", rows * c.spec.head_dim, c.ref_out);
      if (error.empty()) error = read_result(case_dir(i) / "lse.npy", rows, c.ref_lse);
      if (!error.empty()) {
        *oracle_error_ = c.spec.name + ": " + error;
        return;
      }
    }
  }

  static void TearDownTestSuite() {
    delete dir_;  // removes the directory
    delete cases_;
    delete oracle_error_;
    dir_ = nullptr;
    cases_ = nullptr;
    oracle_error_ = nullptr;
  }

  static std::filesystem::path case_dir(size_t i) {
    char name[32];
    std::snprintf(name, sizeof(name), "case_%03zu", i);
    return dir_->path() / name;
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline std::vector<Case>* cases_ = nullptr;
  static inline std::string* oracle_error_ = nullptr;
};

TEST_F(AttentionReference, MatchesOracleOnEveryCase) {
  ASSERT_EQ(*oracle_error_, "");
  ThreadPool pool(kThreads);
  Errors worst;
  std::string worst_out_case, worst_lse_case;
  int all_hidden_cases = 0, some_hidden_cases = 0;
  for (const Case& c : *cases_) {
    SCOPED_TRACE(c.spec.name + " (" + c.spec.mask.to_string() + ", " + dtype_name(c.spec.dtype) +
                 ")");
    const auto empty_rows =
        std::count_if(c.ref_lse.begin(), c.ref_lse.end(), [](double x) { return std::isinf(x); });
    const auto rows = static_cast<std::ptrdiff_t>(c.ref_lse.size());
    if (c.spec.name.rfind("all_hidden", 0) == 0) {
      EXPECT_EQ(empty_rows, rows) << "oracle";
    }
    all_hidden_cases += empty_rows == rows;
    some_hidden_cases += empty_rows > 0 && empty_rows < rows;
    StatusOr<BlockResult> result =
        attend_block(c.q, c.k, c.v, c.q_positions(), c.k_positions(), c.spec.mask, pool);
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    Errors errors;
    EXPECT_TRUE(matches(*result, c.ref_out, c.ref_lse, errors));
    if (errors.out_rel >= worst.out_rel) worst_out_case = c.spec.name;
    if (errors.lse_rel >= worst.lse_rel) worst_lse_case = c.spec.name;
    worst.out_rel = std::max(worst.out_rel, errors.out_rel);
    worst.lse_rel = std::max(worst.lse_rel, errors.lse_rel);

    // The reusing entry point must overwrite every element, fully hidden rows included.
    BlockResult reused = make_poisoned_result(c.spec.q_len, c.spec.n_heads, c.spec.head_dim);
    const Status status = attend_block_into(c.q, c.k, c.v, c.q_positions(), c.k_positions(),
                                            c.spec.mask, pool, reused);
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_TRUE(matches(reused, c.ref_out, c.ref_lse, errors)) << "attend_block_into";
  }
  // The case list must keep exercising hidden rows, or the -inf checks above test nothing.
  EXPECT_GE(all_hidden_cases, 3);
  EXPECT_GE(some_hidden_cases, 3);
  std::cout << "[ worst    ] out " << worst.out_rel << " (" << worst_out_case << "), lse "
            << worst.lse_rel << " (" << worst_lse_case << ") over " << cases_->size() << " cases\n";
}

// Splitting the keys into blocks, attending to each and merging in any order equals one call.
// No oracle here: the full call is the reference, so this runs without Python.
TEST(AttentionBlockMerge, SplitKeysMergeInAnyOrderToOneCall) {
  ThreadPool pool(kThreads);
  const std::vector<std::pair<MaskSpec, Layout>> configs = {
      {causal(), Layout::kContiguous},
      {window(90, true), Layout::kContiguous},
      {window(60, false), Layout::kZigzag},
      {group(64, true), Layout::kPacked},
      {window_group(50, 80, true), Layout::kShuffled},
      {MaskSpec::none(), Layout::kPacked},
  };
  int parts_with_hidden_rows = 0;
  double worst_out = 0.0, worst_lse = 0.0;
  for (size_t config = 0; config < configs.size(); ++config) {
    for (uint32_t seed = 0; seed < 3; ++seed) {
      const auto& [mask, layout] = configs[config];
      // 700 tokens straddle both the 128-query and the 512-key tile edges.
      const int64_t len = layout == Layout::kShuffled ? 300 : 700;
      const CaseSpec spec{"merge", len, len, 4, 2, 40, mask, layout};
      std::mt19937 rng(static_cast<uint32_t>(100 * config + seed));
      const Case c = make_case(spec, static_cast<uint32_t>(500 + 10 * config + seed));
      SCOPED_TRACE(mask.to_string() + " seed " + std::to_string(seed));

      StatusOr<BlockResult> full =
          attend_block(c.q, c.k, c.v, c.q_positions(), c.k_positions(), mask, pool);
      ASSERT_TRUE(full.ok()) << full.status().to_string();
      const std::vector<double> full_out = to_f64(full->out), full_lse = to_f64(full->lse);

      // 2..6 non-empty key blocks at random split points.
      std::uniform_int_distribution<int64_t> point(1, len - 1);
      std::vector<int64_t> bounds = {0, len};
      const int cuts = std::uniform_int_distribution<int>(1, 5)(rng);
      for (int i = 0; i < cuts; ++i) bounds.push_back(point(rng));
      std::sort(bounds.begin(), bounds.end());
      bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());

      std::vector<BlockResult> parts;
      for (size_t b = 0; b + 1 < bounds.size(); ++b) {
        const auto begin = static_cast<size_t>(bounds[b]);
        const auto count = static_cast<size_t>(bounds[b + 1] - bounds[b]);
        const Positions k_block{std::span<const int64_t>(c.k_pos).subspan(begin, count),
                                c.k_positions().seq.empty()
                                    ? std::span<const int32_t>{}
                                    : std::span<const int32_t>(c.k_seq).subspan(begin, count)};
        StatusOr<BlockResult> part =
            attend_block(c.q, c.k.rows(bounds[b], bounds[b + 1]),
                         c.v.rows(bounds[b], bounds[b + 1]), c.q_positions(), k_block, mask, pool);
        ASSERT_TRUE(part.ok()) << part.status().to_string();
        const float* lse = part->lse.data<float>();
        if (std::any_of(lse, lse + part->lse.numel(), [](float x) { return x == -INFINITY; })) {
          ++parts_with_hidden_rows;
        }
        parts.push_back(std::move(part).value());
      }
      // A block from another sequence hides every row; merging it must change nothing.
      const std::vector<int64_t> foreign_pos(c.k_pos.begin(), c.k_pos.begin() + 5);
      const std::vector<int32_t> foreign_seq(5, 99);
      StatusOr<BlockResult> foreign =
          attend_block(c.q, c.k.rows(0, 5), c.v.rows(0, 5), c.q_positions(),
                       Positions{foreign_pos, foreign_seq}, mask, pool);
      ASSERT_TRUE(foreign.ok()) << foreign.status().to_string();
      parts.push_back(std::move(foreign).value());

      std::vector<size_t> order(parts.size());
      std::iota(order.begin(), order.end(), 0);
      for (int shuffle = 0; shuffle < 3; ++shuffle) {
        std::shuffle(order.begin(), order.end(), rng);
        BlockResult merged = make_empty_result(spec.q_len, spec.n_heads, spec.head_dim);
        for (size_t i : order) merge_into(merged, parts[i]);
        Errors errors;
        EXPECT_TRUE(matches(merged, full_out, full_lse, errors))
            << bounds.size() - 1 << " blocks, shuffle " << shuffle;
        worst_out = std::max(worst_out, errors.out_rel);
        worst_lse = std::max(worst_lse, errors.lse_rel);
      }
    }
  }
  EXPECT_GT(parts_with_hidden_rows, 0);
  std::cout << "[ worst    ] merged vs one call: out " << worst_out << ", lse " << worst_lse << "; "
            << parts_with_hidden_rows << " blocks had fully hidden rows\n";
}

}  // namespace
}  // namespace ringmaster::attention
