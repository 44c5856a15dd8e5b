// worker/branches.h against full forwards: each branch's log-likelihood equals the sum of the
// scores of its tokens in a prefill of the branch's whole sequence (its record's first `base`
// tokens, then its own), for a model of all five mixers and one of attention blocks, every plan
// the model allows and P = 1..4, branches right after <bos>, at a record's end, inside and across
// FIT groups and ATLAS chunks, of one and of many tokens, several per record.
#include "worker/branches.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "comm/local_comm.h"
#include "model/init.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::worker {
namespace {

using comm::PlanKind;
using model::BlockConfig;
using model::MixerKind;

constexpr int64_t kGroup = 32, kChunk = 16;

std::vector<BranchSpec> make_branches(const model::harness::Records& records) {
  std::mt19937 rng(11);
  std::vector<BranchSpec> branches;
  for (size_t r = 0; r < records.lengths.size(); ++r) {
    for (const int64_t base : {1, 2, 15, 16, 17, 32, 33, 70, 95, 96, 150, 151}) {
      if (base > records.lengths[r]) continue;
      BranchSpec& b = branches.emplace_back();
      b.record = static_cast<int32_t>(r);
      b.base = base;
      const int64_t n = base % 3 == 0 ? 1 : 1 + base % 40;
      for (int64_t k = 0; k < n; ++k) b.tokens.push_back(static_cast<int32_t>(rng() % 5));
    }
  }
  return branches;
}

// Log-likelihood of every branch from its ranks' outcomes, on `world` ranks.
std::vector<double> run(const std::string& dir, const model::harness::Records& records,
                        const std::vector<BranchSpec>& branches, PlanKind kind, int world) {
  const comm::RecordLayout layout(records.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(kind, layout, world, kGroup);
  EXPECT_TRUE(plan.ok());
  const auto streams =
      std::make_shared<const model::DecodeStreams>(branch_streams(branches), *plan, layout);
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(30000));
  std::vector<double> ll(branches.size(), std::nan(""));
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      auto m = model::Model::load(dir);
      ASSERT_TRUE(m.ok()) << m.status().to_string();
      ThreadPool pool(1);
      model::ShardContext ctx =
          model::make_shard_context(*comms[static_cast<size_t>(rank)], *plan, layout, pool,
                                    attention::ContextParallel::kRing);
      ctx.streams = streams;
      std::vector<int32_t> ids;
      for (int64_t t : ctx.tokens) ids.push_back(records.stream[static_cast<size_t>(t)]);
      auto hf = m->forward(ctx, ids);
      ASSERT_TRUE(hf.ok()) << hf.status().to_string();
      auto outcomes = run_branches(*m, ctx, branches, std::move(*hf));
      ASSERT_TRUE(outcomes.ok()) << outcomes.status().to_string();
      std::lock_guard lock(mutex);
      for (const BranchOutcome& o : *outcomes) {
        EXPECT_EQ(streams->tail[static_cast<size_t>(o.branch)], rank);
        ll[static_cast<size_t>(o.branch)] = o.log_likelihood;
      }
    });
  }
  for (auto& t : threads) t.join();
  return ll;
}

// The same log-likelihoods from one prefill of every branch's whole sequence.
std::vector<double> expected(const std::string& dir, const model::harness::Records& records,
                             const std::vector<BranchSpec>& branches) {
  const comm::RecordLayout layout(records.lengths);
  model::harness::Records full;
  for (const BranchSpec& b : branches) {
    const auto begin = records.stream.begin() + layout.start(b.record);
    full.stream.insert(full.stream.end(), begin, begin + b.base);
    full.stream.insert(full.stream.end(), b.tokens.begin(), b.tokens.end());
    full.lengths.push_back(b.base + static_cast<int64_t>(b.tokens.size()));
  }
  const model::harness::Outputs out =
      model::harness::run_model(dir, full, PlanKind::kContiguous, 1, kGroup);
  const comm::RecordLayout full_layout(full.lengths);
  std::vector<double> ll;
  for (size_t i = 0; i < branches.size(); ++i) {
    // scores[input index]: the token at position p of record i is input index start + p - i - 1.
    double sum = 0;
    const int64_t first = full_layout.start(static_cast<int>(i)) - static_cast<int64_t>(i) - 1;
    for (size_t k = 0; k < branches[i].tokens.size(); ++k) {
      sum += out.scores[static_cast<size_t>(first + branches[i].base + static_cast<int64_t>(k))];
    }
    ll.push_back(sum);
  }
  return ll;
}

struct Case {
  std::string name;
  std::vector<BlockConfig> blocks;
};

class BranchesMatchFullForwards : public ::testing::TestWithParam<Case> {};

TEST_P(BranchesMatchFullForwards, EveryPlanAndWorkerCount) {
  testing::TempDir temp;
  const std::string dir = temp.path().string() + "/model";
  ASSERT_TRUE(model::init_model(testing::small_model_config(true, GetParam().blocks), 9, dir).ok());
  const auto records = model::harness::make_records({150, 95, 40}, "");
  const std::vector<BranchSpec> branches = make_branches(records);
  ASSERT_TRUE(check_branches(branches, comm::RecordLayout(records.lengths), io::Vocab::kDna).ok());
  const std::vector<double> want = expected(dir, records, branches);
  bool has_atlas = false;
  for (const BlockConfig& b : GetParam().blocks) has_atlas |= b.mixer == MixerKind::kAtlas;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    if (has_atlas && kind == PlanKind::kStriped) continue;  // atlas refuses striped plans
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const std::vector<double> got = run(dir, records, branches, kind, world);
      for (size_t i = 0; i < branches.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])))
            << "branch " << i << " (record " << branches[i].record << ", base " << branches[i].base
            << ", " << branches[i].tokens.size() << " tokens)";
      }
    }
  }
}

const BlockConfig kAttention{.mixer = MixerKind::kAttention};
const BlockConfig kWindow{.mixer = MixerKind::kWindow, .window = 37};
const BlockConfig kLocal{.mixer = MixerKind::kLocal, .group = kGroup};
const BlockConfig kFit{.mixer = MixerKind::kFit, .group = kGroup, .latents = 4, .global_layers = 2};
const BlockConfig kAtlas{.mixer = MixerKind::kAtlas,
                         .chunk = kChunk,
                         .omega_window = 5,
                         .memory_hidden = 12,
                         .feature_degree = 1};

INSTANTIATE_TEST_SUITE_P(
    Models, BranchesMatchFullForwards,
    ::testing::Values(Case{"attention", {kAttention, kAttention}},
                      Case{"all_five", {kFit, kAttention, kAtlas, kWindow, kLocal}}),
    [](const ::testing::TestParamInfo<Case>& param) { return param.param.name; });

TEST(CheckBranches, NamesTheBranch) {
  const comm::RecordLayout layout(std::vector<int64_t>{10, 5});
  auto refused = [&](BranchSpec b, const std::string& what) {
    const Status s =
        check_branches(std::vector<BranchSpec>{{0, 3, {1}}, b}, layout, io::Vocab::kDna);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().rfind("branch 1: ", 0), 0u) << s.to_string();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.to_string();
  };
  refused({2, 1, {1}}, "record 2");
  refused({1, 0, {1}}, "base 0 is outside [1, 5]");
  refused({1, 6, {1}}, "base 6");
  refused({1, 5, {}}, "no tokens");
  refused({1, 5, {5}}, "not an input id");
  EXPECT_TRUE(
      check_branches(std::vector<BranchSpec>{{1, 5, {4, 0}}}, layout, io::Vocab::kDna).ok());
}

}  // namespace
}  // namespace ringmaster::worker
