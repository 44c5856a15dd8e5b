// Ring, Ulysses and hybrid attention over LocalComm (P ranks as threads) against the
// single-process block kernel on the whole sequence: every plan, causal and not, several
// sequences, GQA.
#include "attention/ring.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "attention/check_job.h"
#include "attention/context_parallel.h"
#include "attention/hybrid.h"
#include "attention/ulysses.h"
#include "comm/local_comm.h"
#include "tests/testing/close.h"

namespace ringmaster::attention {
namespace {

using comm::PartitionPlan;
using comm::PlanKind;

struct Problem {
  int64_t tokens, n_heads, n_kv_heads, head_dim;
  MaskSpec mask;
  std::vector<int64_t> record_lengths;  // empty: one sequence
};

// Global positions and sequence ids of a stream of records.
void stream_positions(const Problem& p, std::vector<int64_t>& pos, std::vector<int32_t>& seq) {
  std::vector<int64_t> lengths = p.record_lengths;
  if (lengths.empty()) lengths = {p.tokens};
  for (size_t r = 0; r < lengths.size(); ++r) {
    for (int64_t i = 0; i < lengths[r]; ++i) {
      pos.push_back(i);
      seq.push_back(static_cast<int32_t>(r));
    }
  }
}

// Runs `world` ranks on threads; returns the gathered [tokens, n_heads, head_dim] output.
Tensor run_distributed(const Problem& p, PlanKind plan_kind, int world,
                       const ContextParallelism& how) {
  const auto plan = PartitionPlan::make(plan_kind, p.tokens, world);
  EXPECT_TRUE(plan.ok());
  std::vector<int64_t> pos;
  std::vector<int32_t> seq;
  stream_positions(p, pos, seq);
  // Every received block is checked against the records (so these runs also show the check
  // passes what an honest peer sends).
  const comm::RecordLayout layout(p.record_lengths.empty() ? std::vector<int64_t>{p.tokens}
                                                           : p.record_lengths);
  const CheckJobSpec spec{.num_tokens = p.tokens,
                          .n_heads = p.n_heads,
                          .n_kv_heads = p.n_kv_heads,
                          .head_dim = p.head_dim,
                          .seed = 3};
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(20000));
  Tensor gathered = Tensor::empty({p.tokens, p.n_heads, p.head_dim}, DType::kF32);
  const int64_t row = p.n_heads * p.head_dim;
  std::vector<std::thread> threads;
  std::vector<Status> statuses(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      const std::vector<int64_t> tokens = plan->tokens_of(r);
      Tensor q, k, v;
      make_check_rows(spec, tokens, q, k, v);
      std::vector<int64_t> my_pos;
      std::vector<int32_t> my_seq;
      for (int64_t t : tokens) {
        my_pos.push_back(pos[static_cast<size_t>(t)]);
        my_seq.push_back(seq[static_cast<size_t>(t)]);
      }
      ThreadPool pool(1);
      const auto backend = make_cpu_backend(pool);
      auto& c = *comms[static_cast<size_t>(r)];
      const Positions positions{my_pos, my_seq};
      auto out = context_parallel_attention(how, c, *plan, q, k, v, positions, p.mask, *backend, 7,
                                            nullptr, &layout);
      statuses[static_cast<size_t>(r)] = out.status();
      if (!out.ok()) return;
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::memcpy(gathered.data<float>() + tokens[i] * row,
                    out->out.data<float>() + static_cast<int64_t>(i) * row,
                    static_cast<size_t>(row) * sizeof(float));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : statuses) EXPECT_TRUE(s.ok()) << s.to_string();
  return gathered;
}

Tensor run_single(const Problem& p) {
  std::vector<int64_t> pos, all;
  std::vector<int32_t> seq;
  stream_positions(p, pos, seq);
  for (int64_t i = 0; i < p.tokens; ++i) all.push_back(i);
  const CheckJobSpec spec{.num_tokens = p.tokens,
                          .n_heads = p.n_heads,
                          .n_kv_heads = p.n_kv_heads,
                          .head_dim = p.head_dim,
                          .seed = 3};
  Tensor q, k, v;
  make_check_rows(spec, all, q, k, v);
  ThreadPool pool(2);
  auto out = attend_block(q, k, v, Positions{pos, seq}, Positions{pos, seq}, p.mask, pool);
  EXPECT_TRUE(out.ok());
  return out->out;
}

using Case = std::tuple<ContextParallelism, PlanKind, int, bool>;

class DistributedAttention : public ::testing::TestWithParam<Case> {};

TEST_P(DistributedAttention, MatchesSingleProcess) {
  const auto [how, plan, world, causal] = GetParam();
  // 12 query heads split over 1-4 ranks; kv heads 4, 12 and 6 exercise both Ulysses paths
  // (kv slices, and kv copies per query head when n_kv_heads does not divide), and in the hybrid
  // the same with U ranks (U = 3 and 4 copy, U = 2 slices).
  const std::vector<Problem> problems = {
      {1000, 12, 4, 16, {.causal = causal}, {}},
      {777, 12, 12, 8, {.causal = causal}, {300, 1, 476}},     // three records
      {901, 12, 6, 8, {.causal = causal, .window = 130}, {}},  // sliding window
  };
  for (const Problem& p : problems) {
    SCOPED_TRACE(p.mask.to_string());
    const Tensor want = run_single(p);
    const Tensor got = run_distributed(p, plan, world, how);
    EXPECT_TRUE(testing::all_close(got, want, 1e-5));
    const Tensor again = run_distributed(p, plan, world, how);
    EXPECT_EQ(std::memcmp(got.raw(), again.raw(), got.bytes()), 0) << "not bit-identical";
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto& [how, plan, world, causal] = info.param;
  std::string name = context_parallel_name(how.how);
  if (how.how == ContextParallel::kHybrid) name += "_u" + std::to_string(how.ulysses_degree);
  name += "_";
  name += comm::plan_name(plan);
  name += "_p" + std::to_string(world);
  name += causal ? "_causal" : "_bidir";
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    AllPlans, DistributedAttention,
    ::testing::Combine(::testing::Values(ContextParallel::kRing, ContextParallel::kUlysses),
                       ::testing::Values(PlanKind::kContiguous, PlanKind::kZigzag,
                                         PlanKind::kStriped),
                       ::testing::Values(1, 2, 3, 4), ::testing::Bool()),
    case_name);

// The hybrid: P = 4 as 2 Ulysses groups of 2 over every plan (zigzag must be reordered inside
// the groups, hybrid.cc), and the degenerate meshes through the same path: U = 1 (a ring of
// groups of one) and U = P (one Ulysses group, a ring of one) for P = 1..4.
std::vector<Case> hybrid_cases() {
  std::vector<Case> cases;
  for (PlanKind plan : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    for (bool causal : {true, false}) {
      cases.emplace_back(ContextParallelism(ContextParallel::kHybrid, 2), plan, 4, causal);
    }
  }
  for (int world = 1; world <= 4; ++world) {
    cases.emplace_back(ContextParallelism(ContextParallel::kHybrid, 1), PlanKind::kZigzag, world,
                       true);
    if (world > 1) {
      cases.emplace_back(ContextParallelism(ContextParallel::kHybrid, world), PlanKind::kZigzag,
                         world, true);
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Hybrid, DistributedAttention, ::testing::ValuesIn(hybrid_cases()),
                         case_name);

// One line naming the flag and both values, before anything is sent.
TEST(Hybrid, UlyssesDegreeMustDivideWorkersAndHeads) {
  auto group = comm::LocalComm::make_local_group(4, std::chrono::milliseconds(1000));
  const auto plan = PartitionPlan::make(PlanKind::kZigzag, 16, 4);
  Tensor q = Tensor::empty({4, 6, 8}, DType::kF32), k = Tensor::empty({4, 2, 8}, DType::kF32);
  std::vector<int64_t> pos = {0, 1, 14, 15};
  ThreadPool pool(1);
  const auto backend = make_cpu_backend(pool);
  auto run = [&](int degree) {
    return hybrid_attention(*group[0], *plan, degree, q, k, k, Positions{pos, {}},
                            MaskSpec::causal_mask(), *backend, 0)
        .status();
  };
  Status s = run(3);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--ulysses-degree 3 does not divide --workers 4 (the ring degree is workers / ulysses "
            "degree)");
  s = run(4);  // divides the 4 workers, not the 6 heads
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--ulysses-degree 4 does not divide the 6 query heads"),
            std::string::npos)
      << s.to_string();
  EXPECT_EQ(run(0).code(), StatusCode::kInvalidArgument);
}

TEST(Ulysses, HeadsMustDivideAmongWorkers) {
  // 2 query and 2 kv heads cannot split over 3 ranks.
  auto group = comm::LocalComm::make_local_group(3, std::chrono::milliseconds(1000));
  const auto plan3 = PartitionPlan::make(PlanKind::kContiguous, 6, 3);
  Tensor q = Tensor::empty({2, 2, 8}, DType::kF32), k = Tensor::empty({2, 2, 8}, DType::kF32);
  std::vector<int64_t> pos = {0, 1};
  ThreadPool pool(1);
  const auto backend = make_cpu_backend(pool);
  const auto out = ulysses_attention(*group[0], *plan3, q, k, k, Positions{pos, {}},
                                     MaskSpec::none(), *backend, 0);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("multiple of the 3 workers"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::attention

namespace ringmaster::attention {
namespace {

// RELIABILITY.md: a peer that stays alive but never sends its block is caught by the per-step
// deadline, and the error names the step and the peer, long before anything else would notice.
TEST(Ring, SilentPeerHitsTheStepDeadlineNamingStepAndRank) {
  constexpr int kWorld = 3;
  const CheckJobSpec spec{.num_tokens = 768, .n_heads = 2, .n_kv_heads = 2, .head_dim = 16};
  const auto plan = comm::PartitionPlan::make(comm::PlanKind::kContiguous, spec.num_tokens, kWorld);
  ASSERT_TRUE(plan.ok());
  auto comms = comm::LocalComm::make_local_group(kWorld, std::chrono::milliseconds(300));
  std::vector<Status> statuses(kWorld - 1);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < kWorld - 1; ++r) {  // rank 2 is alive but never joins the ring
    threads.emplace_back([&, r] {
      const std::vector<int64_t> tokens = plan->tokens_of(r);
      Tensor q, k, v;
      make_check_rows(spec, tokens, q, k, v);
      std::vector<int64_t> pos(tokens.begin(), tokens.end());
      ThreadPool pool(1);
      const auto backend = make_cpu_backend(pool);
      statuses[static_cast<size_t>(r)] =
          ring_attention(*comms[static_cast<size_t>(r)], *plan, q, k, v, Positions{pos, {}},
                         MaskSpec::causal_mask(), *backend, 3)
              .status();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  for (const Status& s : statuses) {
    EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.to_string();
  }
  // Rank 0 waits on rank 2 in the first step.
  EXPECT_NE(statuses[0].message().find("ring step 0 receive from rank 2"), std::string::npos)
      << statuses[0].to_string();
}

// Rank 1 sends positions one past its tokens' (a peer with a bug, or a forged block that got
// past the transport): each receiver of its block fails with kDataLoss naming rank 1, the layer
// and (ring) the step, instead of attending under a shifted mask.
std::vector<Status> run_with_shifted_peer(const ContextParallelism& how, int world = 3) {
  const CheckJobSpec spec{.num_tokens = 96, .n_heads = 6, .n_kv_heads = 6, .head_dim = 8};
  const auto plan = comm::PartitionPlan::make(comm::PlanKind::kZigzag, spec.num_tokens, world);
  EXPECT_TRUE(plan.ok());
  const comm::RecordLayout layout = comm::RecordLayout::single(spec.num_tokens);
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(300));
  std::vector<Status> statuses(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      const std::vector<int64_t> tokens = plan->tokens_of(r);
      Tensor q, k, v;
      make_check_rows(spec, tokens, q, k, v);
      std::vector<int64_t> pos(tokens.begin(), tokens.end());
      if (r == 1) {
        for (int64_t& p : pos) ++p;
      }
      ThreadPool pool(1);
      const auto backend = make_cpu_backend(pool);
      auto& c = *comms[static_cast<size_t>(r)];
      const MaskSpec mask = MaskSpec::causal_mask();
      statuses[static_cast<size_t>(r)] =
          context_parallel_attention(how, c, *plan, q, k, v, Positions{pos, {}}, mask, *backend, 5,
                                     nullptr, &layout)
              .status();
    });
  }
  for (auto& t : threads) t.join();
  return statuses;
}

TEST(Ring, BlockWithPositionsNotItsSourcesIsDataLossNamingSourceLayerAndStep) {
  const std::vector<Status> statuses = run_with_shifted_peer(ContextParallel::kRing);
  // Rank 2 receives rank 1's block in step 0.
  EXPECT_EQ(statuses[2].code(), StatusCode::kDataLoss) << statuses[2].to_string();
  EXPECT_NE(statuses[2].message().find("ring layer 5 step 0: the block from rank 1: row 0 has "
                                       "position "),
            std::string::npos)
      << statuses[2].to_string();
}

TEST(Ulysses, PositionsNotTheirSourcesAreDataLossNamingSourceAndLayer) {
  const std::vector<Status> statuses = run_with_shifted_peer(ContextParallel::kUlysses);
  for (int r : {0, 2}) {
    const Status& s = statuses[static_cast<size_t>(r)];
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.to_string();
    EXPECT_NE(s.message().find("ulysses layer 5: the block from rank 1: row 0 has position "),
              std::string::npos)
        << s.to_string();
  }
}

// P = 4 as Ulysses groups {0, 1} and {2, 3}: rank 1's shifted positions reach rank 0 in the
// Ulysses exchange (naming rank 1), and rank 3 in the ring, inside group 0's block (naming the
// ring's rank 0, group 0), which is why the gathered rows are checked in ring order too.
TEST(Hybrid, PositionsNotTheirSourcesAreDataLossInBothStages) {
  const std::vector<Status> statuses =
      run_with_shifted_peer(ContextParallelism(ContextParallel::kHybrid, 2), 4);
  EXPECT_EQ(statuses[0].code(), StatusCode::kDataLoss) << statuses[0].to_string();
  EXPECT_NE(statuses[0].message().find("ulysses layer 5: the block from rank 1: row 0 has "),
            std::string::npos)
      << statuses[0].to_string();
  EXPECT_EQ(statuses[3].code(), StatusCode::kDataLoss) << statuses[3].to_string();
  EXPECT_NE(statuses[3].message().find("ring layer 5 step 0: the block from rank 0: row "),
            std::string::npos)
      << statuses[3].to_string();
}

}  // namespace
}  // namespace ringmaster::attention
