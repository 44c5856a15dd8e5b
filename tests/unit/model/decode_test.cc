// Decoding (model/decode.h) against prefill: the hf of a token fed by Model::append after a
// prefill that kept its caches equals the hf of the same token in a prefill of the whole sequence
// (the stream's prefix + the tokens fed since), for each mixer alone and a model of all five,
// every plan the model allows and P = 1..4. The streams continue each record's end (generate;
// prompts that end inside a FIT group and an ATLAS chunk, decodes that cross group and chunk
// boundaries, records that stop at different steps) and branch off inside records (variants):
// at the first token, inside and on the edges of groups and chunks, several per record.
#include "model/decode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "comm/local_comm.h"
#include "model/init.h"
#include "model/model.h"
#include "tests/testing/close.h"
#include "tests/testing/fake_device.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

using comm::PlanKind;
using harness::Records;

constexpr int64_t kGroup = 32, kChunk = 16, kNew = 41;

// Prompts of 150 (ends inside a group and a chunk), 63 (one short of two groups), 1 and 96
// (on a group boundary) bases; record r feeds kNew - 7 * r new tokens, so they stop apart.
const std::vector<int64_t> kPrompts = {150, 63, 1, 96};
int64_t new_tokens(size_t record) { return kNew - 7 * static_cast<int64_t>(record); }

// A stream and the tokens it feeds.
struct Continued {
  DecodeStream stream;
  std::vector<int32_t> more;
};

// Each record's end, then (with `branches`) branches at these bases where the record has them:
// right after <bos>, inside the first chunk, on and around group (32) and chunk (16) edges.
std::vector<Continued> make_streams(const Records& prompts, bool branches, std::mt19937& rng) {
  std::vector<Continued> out;
  for (size_t r = 0; r < prompts.lengths.size(); ++r) {
    Continued& c = out.emplace_back();
    c.stream = {static_cast<int32_t>(r), prompts.lengths[r]};
    for (int64_t s = 0; s < new_tokens(r); ++s) c.more.push_back(static_cast<int32_t>(rng() % 5));
  }
  if (!branches) return out;
  for (size_t r = 0; r < prompts.lengths.size(); ++r) {
    for (const int64_t base : {1, 2, 9, 16, 31, 32, 33, 64, 80, 100, 149}) {
      if (base >= prompts.lengths[r]) continue;
      Continued& c = out.emplace_back();
      c.stream = {static_cast<int32_t>(r), base};
      for (int64_t s = 0; s < 20 + base % 13; ++s)
        c.more.push_back(static_cast<int32_t>(rng() % 5));
    }
  }
  return out;
}

// One record per stream: its prefix of the prompt and the tokens it feeds, as one prefill sees
// them.
Records extend(const Records& prompts, const std::vector<Continued>& streams) {
  const comm::RecordLayout layout(prompts.lengths);
  Records full;
  for (const Continued& c : streams) {
    const auto begin = prompts.stream.begin() + layout.start(c.stream.record);
    full.stream.insert(full.stream.end(), begin, begin + c.stream.base);
    full.stream.insert(full.stream.end(), c.more.begin(), c.more.end());
    full.lengths.push_back(c.stream.base + static_cast<int64_t>(c.more.size()));
  }
  return full;
}

// hf of every decoded row, [stream][step] -> d floats, from a prefill of `prompts` on `world`
// ranks (shards weighted by `rank_weights` when given) followed by decode steps that feed each
// stream's tokens. `backends`: where a rank computes (empty: the CPU's).
std::vector<std::vector<std::vector<float>>> decode(
    const std::string& dir, const Records& prompts, const std::vector<Continued>& streams,
    PlanKind kind, int world, int64_t align,
    attention::ContextParallelism cp = attention::ContextParallel::kRing,
    const std::vector<double>& rank_weights = {}, DType compute = DType::kF32,
    const harness::BackendsFn& backends = {}) {
  const comm::RecordLayout layout(prompts.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(kind, layout, world, align, rank_weights);
  EXPECT_TRUE(plan.ok());
  std::vector<DecodeStream> list;
  size_t longest = 0;
  for (const Continued& c : streams) {
    list.push_back(c.stream);
    longest = std::max(longest, c.more.size());
  }
  const auto decode_streams = std::make_shared<const DecodeStreams>(list, *plan, layout);
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(30000));
  std::vector<std::vector<std::vector<float>>> hf_of(streams.size());
  for (size_t r = 0; r < streams.size(); ++r) hf_of[r].resize(streams[r].more.size());
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      auto model = Model::load(dir, compute);
      ASSERT_TRUE(model.ok()) << model.status().to_string();
      ThreadPool pool(1);
      ShardContext ctx = make_shard_context(*comms[static_cast<size_t>(rank)], *plan, layout, pool,
                                            cp, backends ? backends(pool) : ShardBackends{});
      ctx.streams = decode_streams;
      std::vector<int32_t> ids;
      for (int64_t t : ctx.tokens) ids.push_back(prompts.stream[static_cast<size_t>(t)]);
      ASSERT_TRUE(model->forward(ctx, ids).ok());
      for (uint32_t s = 1; s <= static_cast<uint32_t>(longest); ++s) {
        DecodeStep step;
        step.index = s;
        for (size_t r = 0; r < streams.size(); ++r) {
          if (s > streams[r].more.size()) continue;
          step.stream.push_back(static_cast<int32_t>(r));
          step.pos.push_back(streams[r].stream.base + s - 1);
          step.tail.push_back(decode_streams->tail[r]);
        }
        index_local_rows(step, rank);
        std::vector<int32_t> step_ids;
        for (size_t i : step.local)
          step_ids.push_back(streams[static_cast<size_t>(step.stream[i])].more[s - 1]);
        auto hf = model->append(ctx, step, step_ids);
        ASSERT_TRUE(hf.ok()) << hf.status().to_string();
        std::lock_guard lock(mutex);
        for (size_t j = 0; j < step.local.size(); ++j) {
          const float* row = hf->data<float>() + static_cast<int64_t>(j) * hf->dim(1);
          hf_of[static_cast<size_t>(step.stream[step.local[j]])][s - 1].assign(row,
                                                                               row + hf->dim(1));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return hf_of;
}

// The decoded rows against the rows a prefill of the extended records (`want`, run on `full`)
// has at the same tokens. A missing or short row fails it through the size check.
testing::Closeness closeness_to_prefill(const std::vector<std::vector<std::vector<float>>>& got,
                                        const harness::Outputs& want,
                                        const std::vector<Continued>& more, const Records& full,
                                        int64_t d) {
  const comm::RecordLayout layout(full.lengths);
  std::vector<float> got_rows, want_rows;
  for (size_t r = 0; r < more.size(); ++r) {
    for (size_t s = 0; s < more[r].more.size(); ++s) {
      got_rows.insert(got_rows.end(), got[r][s].begin(), got[r][s].end());
      const int64_t at =
          layout.start(static_cast<int>(r)) + more[r].stream.base + static_cast<int64_t>(s);
      want_rows.insert(want_rows.end(), want.hf.begin() + at * d, want.hf.begin() + (at + 1) * d);
    }
  }
  return testing::closeness(got_rows, want_rows);
}

struct Case {
  std::string name;
  std::vector<BlockConfig> blocks;
};

class DecodeMatchesPrefill : public ::testing::TestWithParam<Case> {
 protected:
  testing::TempDir temp_;
};

TEST_P(DecodeMatchesPrefill, EveryPlanAndWorkerCount) {
  const ModelConfig config = testing::small_model_config(true, GetParam().blocks);
  const std::string dir = temp_.path().string() + "/model";
  ASSERT_TRUE(init_model(config, 5, dir).ok());
  const Records prompts = harness::make_records(kPrompts, "");
  std::mt19937 rng(3);
  const std::vector<Continued> more = make_streams(prompts, /*branches=*/true, rng);
  const Records full = extend(prompts, more);
  const int64_t d = config.d_model;

  bool has_atlas = false;
  for (const BlockConfig& b : config.blocks) has_atlas |= b.mixer == MixerKind::kAtlas;
  double worst = 0;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    if (has_atlas && kind == PlanKind::kStriped) continue;  // atlas refuses striped plans
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const harness::Outputs want = harness::run_model(dir, full, kind, world, kGroup);
      const auto got = decode(dir, prompts, more, kind, world, kGroup);
      const testing::Closeness c = closeness_to_prefill(got, want, more, full, d);
      EXPECT_TRUE(testing::within(c, 1e-5)) << "decoded hf against a prefill";
      worst = std::max(worst, c.rel);
    }
  }
  std::printf("%s: largest relative error of decode against prefill %.3g\n",
              GetParam().name.c_str(), worst);
}

// bf16 compute: the window and local mixers hand the kernel bf16 k and v rows and keep them
// for decoding widened back to f32; decoding still gives the rows of a bf16 prefill of the
// longer sequence, to the bf16 tolerance, on every plan.
TEST(DecodeInBf16Compute, WindowAndLocalMatchPrefill) {
  const ModelConfig config = testing::small_model_config(
      true,
      {{.mixer = MixerKind::kWindow, .window = 37}, {.mixer = MixerKind::kLocal, .group = kGroup}});
  testing::TempDir temp;
  const std::string dir = temp.path().string() + "/model";
  ASSERT_TRUE(init_model(config, 5, dir).ok());
  const Records prompts = harness::make_records(kPrompts, "");
  std::mt19937 rng(4);
  const std::vector<Continued> more = make_streams(prompts, /*branches=*/true, rng);
  const Records full = extend(prompts, more);
  const int64_t d = config.d_model;
  for (const auto& [kind, world] :
       {std::pair{PlanKind::kContiguous, 1}, std::pair{PlanKind::kContiguous, 3},
        std::pair{PlanKind::kZigzag, 2}}) {
    SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
    const harness::Outputs want = harness::run_model(dir, full, kind, world, kGroup, DType::kBf16);
    const auto got = decode(dir, prompts, more, kind, world, kGroup,
                            attention::ContextParallel::kRing, {}, DType::kBf16);
    EXPECT_TRUE(testing::within(closeness_to_prefill(got, want, more, full, d), 2e-2))
        << "bf16 decode against a bf16 prefill";
  }
}

// Rank weights (unequal shards from the prefill on): the caches sit where the weighted plan put
// them, and decoding gives the rows of an equal-split prefill of the longer sequence.
TEST_P(DecodeMatchesPrefill, UnequalShards) {
  const ModelConfig config = testing::small_model_config(true, GetParam().blocks);
  const std::string dir = temp_.path().string() + "/model";
  ASSERT_TRUE(init_model(config, 5, dir).ok());
  const Records prompts = harness::make_records(kPrompts, "");
  std::mt19937 rng(3);
  const std::vector<Continued> more = make_streams(prompts, /*branches=*/true, rng);
  const Records full = extend(prompts, more);
  const int64_t d = config.d_model;
  bool has_atlas = false;
  for (const BlockConfig& b : config.blocks) has_atlas |= b.mixer == MixerKind::kAtlas;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    if (has_atlas && kind == PlanKind::kStriped) continue;
    for (const std::vector<double>& weights : {std::vector<double>{1, 3}, {1, 2, 3, 4}}) {
      const int world = static_cast<int>(weights.size());
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const harness::Outputs want = harness::run_model(dir, full, kind, world, kGroup);
      const auto got = decode(dir, prompts, more, kind, world, kGroup,
                              attention::ContextParallel::kRing, weights);
      EXPECT_TRUE(testing::within(closeness_to_prefill(got, want, more, full, d), 1e-5))
          << "decoded hf after a weighted prefill against an equal-split prefill";
    }
  }
}

const BlockConfig kAttention{.mixer = MixerKind::kAttention};

// A prefill distributed with Ulysses, or with the ring x Ulysses hybrid (P = 4 as 2 groups of
// 2), keeps the same caches: decoding after it gives the rows a ring prefill gives (the caches
// are each rank's own K/V either way).
TEST(DecodeAfterUlysses, MatchesDecodeAfterRing) {
  testing::TempDir temp;
  const std::string dir = temp.path().string() + "/model";
  ASSERT_TRUE(init_model(testing::small_model_config(true, {kAttention, kAttention}), 8, dir).ok());
  const Records prompts = harness::make_records(kPrompts, "");
  std::mt19937 rng(5);
  const std::vector<Continued> more = make_streams(prompts, /*branches=*/true, rng);
  for (const int world : {2, 4}) {
    const auto ring = decode(dir, prompts, more, PlanKind::kZigzag, world, 1);
    const auto ulysses = decode(dir, prompts, more, PlanKind::kZigzag, world, 1,
                                attention::ContextParallel::kUlysses);
    for (size_t r = 0; r < more.size(); ++r) {
      for (size_t s = 0; s < more[r].more.size(); ++s) {
        EXPECT_TRUE(testing::all_close(ulysses[r][s], ring[r][s], 1e-5))
            << "P=" << world << " stream " << r << " step " << s;
      }
    }
    if (world != 4) continue;
    const auto hybrid =
        decode(dir, prompts, more, PlanKind::kZigzag, world, 1,
               attention::ContextParallelism(attention::ContextParallel::kHybrid, 2));
    for (size_t r = 0; r < more.size(); ++r) {
      for (size_t s = 0; s < more[r].more.size(); ++s) {
        EXPECT_TRUE(testing::all_close(hybrid[r][s], ring[r][s], 1e-5))
            << "hybrid P=4 U=2 stream " << r << " step " << s;
      }
    }
  }
}
const BlockConfig kWindow{.mixer = MixerKind::kWindow, .window = 37};
const BlockConfig kLocal{.mixer = MixerKind::kLocal, .group = kGroup};
const BlockConfig kFit{.mixer = MixerKind::kFit, .group = kGroup, .latents = 4, .global_layers = 2};
const BlockConfig kAtlas{.mixer = MixerKind::kAtlas,
                         .chunk = kChunk,
                         .omega_window = 5,
                         .memory_hidden = 12,
                         .feature_degree = 1};

// Rows on a device (tests/testing/fake_device.h, as device_rows_test.cc for the prefill): the
// prefill keeps the attention family's rows on the stand-in GPU and each decode step gives them
// there too; every decoded row equals the CPU's bit for bit.
TEST(DecodeOnDeviceRows, MatchesTheCpuBitForBit) {
  testing::TempDir temp;
  const std::string dir = temp.path().string() + "/model";
  const ModelConfig config =
      testing::small_model_config(true, {kWindow, kAttention, kFit, kLocal, kAtlas});
  ASSERT_TRUE(init_model(config, 9, dir).ok());
  const Records prompts = harness::make_records(kPrompts, "");
  std::mt19937 rng(6);
  const std::vector<Continued> more = make_streams(prompts, /*branches=*/true, rng);
  for (const auto& [kind, world] :
       {std::pair{PlanKind::kContiguous, 3}, std::pair{PlanKind::kZigzag, 2}}) {
    SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
    const auto want = decode(dir, prompts, more, kind, world, kGroup);
    const auto got =
        decode(dir, prompts, more, kind, world, kGroup, attention::ContextParallel::kRing, {},
               DType::kF32, testing::make_fake_device_backends);
    for (size_t r = 0; r < more.size(); ++r) {
      for (size_t s = 0; s < more[r].more.size(); ++s) {
        ASSERT_EQ(got[r][s].size(), want[r][s].size()) << "stream " << r << " step " << s;
        EXPECT_TRUE(std::none_of(want[r][s].begin(), want[r][s].end(),
                                 [](float v) { return std::isnan(v); }))
            << "stream " << r << " step " << s;
        EXPECT_EQ(
            std::memcmp(got[r][s].data(), want[r][s].data(), want[r][s].size() * sizeof(float)), 0)
            << "stream " << r << " step " << s;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Mixers, DecodeMatchesPrefill,
    ::testing::Values(Case{"attention", {kAttention}}, Case{"window", {kWindow}},
                      Case{"local", {kLocal}}, Case{"fit", {kFit, kFit}}, Case{"atlas", {kAtlas}},
                      Case{"all_five",
                           {kFit, kAttention, kAtlas, kWindow, kLocal, kFit, kAttention}}),
    [](const ::testing::TestParamInfo<Case>& param) { return param.param.name; });

}  // namespace
}  // namespace ringmaster::model
