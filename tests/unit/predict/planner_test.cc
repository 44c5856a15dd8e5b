// The planner's formulas on small cases worked by hand (tests/testing/model_configs.h's model:
// d 32, q 32, kv 16, mlp 48), its verdict, its JSON and its choice of plan.
#include "predict/planner.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testing/model_configs.h"

namespace ringmaster::predict {
namespace {

using model::BlockConfig;
using model::MixerKind;

Hardware slow_links() {
  Hardware hw;
  hw.flops = 1e9;
  hw.attention_flops = 0.5e9;
  hw.memory_bandwidth = 1e9;
  hw.link_bandwidth = 1e6;
  hw.link_latency = 1e-3;
  hw.process_bytes = 1000000;
  return hw;
}

PlannedJob job_of(std::vector<BlockConfig> blocks, int64_t tokens, int workers,
                  comm::PlanKind plan = comm::PlanKind::kZigzag) {
  PlannedJob job;
  job.config = testing::small_model_config(/*causal=*/true, std::move(blocks));
  job.tokens = tokens;
  job.workers = workers;
  job.plan = plan;
  return job;
}

BlockConfig attention() { return {.mixer = MixerKind::kAttention}; }
BlockConfig fit() {
  return {.mixer = MixerKind::kFit, .group = 10, .latents = 100, .global_layers = 1};
}
BlockConfig atlas() {
  return {.mixer = MixerKind::kAtlas,
          .chunk = 10,
          .omega_window = 4,
          .memory_hidden = 16,
          .feature_degree = 1};
}

TEST(PlannerMemory, AttentionRankByHand) {
  const PlannedJob job = job_of({attention()}, 1000, 2);
  auto m = predict_memory(job, slow_links());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->tokens_per_rank, 500);
  EXPECT_EQ(m->process_bytes, 1000000);
  EXPECT_EQ(m->weight_bytes, model::param_count(job.config) * 4);
  EXPECT_EQ(m->activation_bytes, 500 * (3 * 32 + 2 * 32 + 2 * 16) * 4);  // 384000
  EXPECT_EQ(m->buffer_bytes, 500 * 24 + (4 << 20));
  ASSERT_EQ(m->blocks.size(), 1u);
  // A partial (out, lse) and the running lse, 500 (32 + 2 * 4) * 4 = 80000, and four packed K,V
  // blocks of 500 (2 * 16 * 4 + 12) = 70000: in use, arriving, sealed out and sealed in.
  EXPECT_EQ(m->blocks[0].transient_bytes, 80000 + 4 * 70000);
  EXPECT_EQ(m->blocks[0].cache_bytes, 0);  // embed keeps none
  EXPECT_EQ(m->peak_bytes, 1000000 + m->weight_bytes + 384000 + m->buffer_bytes + 360000);
  // One rank: only the block in use.
  auto one = predict_memory(job_of({attention()}, 1000, 1), slow_links());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->blocks[0].transient_bytes, 1000 * (32 + 8) * 4 + 1000 * 140);
  EXPECT_EQ(m->peak_block, 0);
}

TEST(PlannerMemory, BusiestRankMatchesThePartitionPlan) {
  // Striped is counted, not built; every plan must agree with comm::PartitionPlan's max_local.
  for (const auto kind :
       {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
    for (const int64_t tokens : {1, 999, 1000, 1001, 4097}) {
      for (const int workers : {1, 2, 3, 7}) {
        const PlannedJob job = job_of({fit()}, tokens, workers, kind);  // groups of 10
        auto plan = comm::PartitionPlan::make(kind, tokens, workers, 10);
        ASSERT_TRUE(plan.ok());
        EXPECT_EQ(*busiest_rank_tokens(job), plan->max_local())
            << comm::plan_name(kind) << " " << tokens << " " << workers;
      }
    }
  }
}

// Several records: each cut moves to a group boundary of its record, and the prediction builds
// that plan (the coordinator's, comm::PartitionPlan::make_for_records), weighted or not.
TEST(PlannerMemory, BusiestRankOfSeveralRecordsIsTheCoordinatorsCut) {
  const std::vector<int64_t> lengths = {995, 7, 1203, 31, 660};
  for (const auto kind :
       {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
    for (const std::vector<double>& weights : {std::vector<double>{}, {1, 0.5, 0.25}}) {
      PlannedJob job = job_of({attention(), fit()}, 2896, 3, kind);  // groups of 10
      job.record_lengths = lengths;
      job.plan_align = 4;  // with the groups: 20
      job.rank_weights = weights;
      auto plan =
          comm::PartitionPlan::make_for_records(kind, comm::RecordLayout(lengths), 3, 20, weights);
      ASSERT_TRUE(plan.ok());
      EXPECT_EQ(*busiest_rank_tokens(job), plan->max_local())
          << comm::plan_name(kind) << " " << weights.size();
      // One record of as many tokens is cut elsewhere.
      job.record_lengths.clear();
      job.rank_weights.clear();
      auto one = comm::PartitionPlan::make(kind, 2896, 3, 20);
      ASSERT_TRUE(one.ok());
      EXPECT_EQ(*busiest_rank_tokens(job), one->max_local());
    }
  }
}

// A fit block's groups restart with every record, so short records bring more latents.
TEST(PlannerMemory, FitLatentsCountEachRecordsGroups) {
  PlannedJob job = job_of({fit()}, 1000, 2);  // 100 latents per group of 10
  EXPECT_EQ(fit_latent_tokens(job, fit()), 100 * 100);
  job.record_lengths = std::vector<int64_t>(200, 5);  // 200 records, one short group each
  EXPECT_EQ(fit_latent_tokens(job, fit()), 200 * 100);
  auto m = predict_memory(job, slow_links());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->blocks[0].transient_bytes, 3 * 200 * 100 * 32 * 4);
  job.record_lengths = {400, 500};  // not the 1000 tokens
  EXPECT_FALSE(make_plan(job, slow_links(), 0).ok());
}

TEST(PlannerMemory, GenerateKeepsEveryBlocksCache) {
  PlannedJob job = job_of({attention(), attention()}, 1000, 2);
  job.task = Task::kGenerate;
  auto m = predict_memory(job, slow_links());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->blocks[0].cache_bytes, 500 * 2 * 16 * 4);
  EXPECT_EQ(m->cache_bytes, 2 * 500 * 2 * 16 * 4);
  // The second block holds the first one's cache too, so it is the peak.
  EXPECT_EQ(m->blocks[1].peak_bytes - m->blocks[0].peak_bytes, 500 * 2 * 16 * 4);
  EXPECT_EQ(m->peak_block, 1);
}

// The most tokens a rank may take within a limit (what caps measured rank weights): the last n
// whose peak fits, all of the job's tokens when they all fit, 0 when one does not.
TEST(PlannerMemory, MostRankTokensWithinALimit) {
  const Hardware hw = slow_links();
  PlannedJob job = job_of({attention(), attention()}, 100000, 2);
  job.task = Task::kGenerate;
  auto peak = [&](int64_t n) { return predict_memory_at(job, hw, n)->peak_bytes; };
  EXPECT_EQ(predict_memory(job, hw)->peak_bytes, peak(50000));
  const int64_t limit = peak(50000) + (peak(70000) - peak(50000)) / 2;
  auto most = most_rank_tokens_within(job, hw, limit);
  ASSERT_TRUE(most.ok()) << most.status().to_string();
  EXPECT_GT(*most, 50000);
  EXPECT_LT(*most, 70000);
  EXPECT_LE(peak(*most), limit);
  EXPECT_GT(peak(*most + 1), limit);
  EXPECT_EQ(*most_rank_tokens_within(job, hw, peak(100000)), 100000);
  EXPECT_EQ(*most_rank_tokens_within(job, hw, int64_t{1} << 40), 100000);
  EXPECT_EQ(*most_rank_tokens_within(job, hw, peak(1) - 1), 0);
}

TEST(PlannerTime, AttentionComputeByHand) {
  const Hardware hw = slow_links();
  // Per token: dense 2 d (2 q + 2 kv) + 2 * 3 d mlp = 6144 + 9216 = 15360 FLOPs; causal pairs
  // 1000 * 1001 / 2 at 4 q = 128 FLOPs each.
  auto one = predict_prefill(job_of({attention()}, 1000, 1), hw);
  ASSERT_TRUE(one.ok());
  EXPECT_NEAR(one->compute_s, 15.36e-3 + 64.064e-3 / 0.5, 1e-9);
  EXPECT_EQ(one->exchange_s, 0);
  EXPECT_EQ(one->bytes_sent, 0);
  // P = 2, zigzag: half of everything. Contiguous: the pairs 1.5x (ALGORITHMS 2.4).
  auto zigzag = predict_prefill(job_of({attention()}, 1000, 2), hw);
  auto contiguous =
      predict_prefill(job_of({attention()}, 1000, 2, comm::PlanKind::kContiguous), hw);
  ASSERT_TRUE(zigzag.ok() && contiguous.ok());
  EXPECT_NEAR(zigzag->compute_s, 7.68e-3 + 64.064e-3, 1e-9);
  EXPECT_NEAR(contiguous->compute_s, 7.68e-3 + 96.096e-3, 1e-9);
}

TEST(PlannerTime, RingExchangeHidesOnlyBehindOneBlock) {
  // One step moves 500 tokens' K,V: 500 * 2 * 16 * 4 = 64000 bytes, 0.064 s at 1 MB/s plus
  // 1 ms latency, against 32.032 ms of pair compute per step.
  auto t = predict_prefill(job_of({attention()}, 1000, 2), slow_links());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bytes_sent, 64000);
  EXPECT_NEAR(t->exchange_s, 0.065 - 0.032032, 1e-9);
  Hardware fast = slow_links();
  fast.link_bandwidth = 1e12;
  auto hidden = predict_prefill(job_of({attention()}, 1000, 2), fast);
  ASSERT_TRUE(hidden.ok());
  EXPECT_EQ(hidden->exchange_s, 0);
  EXPECT_NEAR(hidden->total_s, hidden->compute_s, 1e-12);
}

TEST(PlannerTime, UlyssesAllToAllVolume) {
  PlannedJob job = job_of({attention()}, 1000, 2);
  job.context_parallel = attention::ContextParallel::kUlysses;
  auto t = predict_prefill(job, slow_links());
  ASSERT_TRUE(t.ok());
  // n (2 q + 2 kv) b_e (P - 1)/P = 500 * 96 * 4 / 2.
  EXPECT_EQ(t->bytes_sent, 96000);
  EXPECT_NEAR(t->exchange_s, 2 * 1e-3 + 0.096, 1e-9);
  EXPECT_NEAR(t->compute_s, 7.68e-3 + 64.064e-3, 1e-9);  // balanced, like zigzag
}

TEST(PlannerTime, AtlasChainWaitsForThePreviousRanksOnce) {
  const Hardware hw = slow_links();
  auto one = predict_prefill(job_of({atlas()}, 1000, 1, comm::PlanKind::kContiguous), hw);
  auto two = predict_prefill(job_of({atlas(), atlas()}, 1000, 2, comm::PlanKind::kContiguous), hw);
  ASSERT_TRUE(one.ok() && two.ok());
  const double mlp_s = 2.0 * 1000 * 3 * 32 * 48 / 1e9;
  const double cell_s = (one->compute_s - mlp_s) / 2;  // half the tokens per rank
  const PlannedJob job = job_of({atlas()}, 1000, 2);
  const double handoff = static_cast<double>(atlas_handoff_bytes(job.config, atlas()));
  // H [2 (hid d_phi + hd hid) + (omega - 1)(d_phi + hd + 1)] * 4 with d_phi = hd = 8, hid 16.
  EXPECT_EQ(handoff, 4 * (2 * (16 * 8 + 8 * 16) + 3 * (8 + 8 + 1)) * 4);
  EXPECT_NEAR(two->blocks[0].exchange_s, cell_s + 1e-3 + handoff / 1e6, 1e-9);
  EXPECT_EQ(two->blocks[1].exchange_s, 0);  // the wavefront: paid once
  EXPECT_NEAR(two->blocks[0].compute_s, one->compute_s / 2, 1e-12);
}

TEST(PlannerTime, FitGlobalLayersRunOnEveryRank) {
  const Hardware hw = slow_links();
  auto one = predict_prefill(job_of({fit()}, 1000, 1), hw);
  auto two = predict_prefill(job_of({fit()}, 1000, 2), hw);
  ASSERT_TRUE(one.ok() && two.ok());
  // The global layers over 100 groups x 100 latents dominate and do not shrink with P.
  EXPECT_GT(two->compute_s, 0.75 * one->compute_s);
  // All-gather: (P - 1)/P of G m d b_e = 10000 * 32 * 4 / 2.
  EXPECT_EQ(two->bytes_sent, 640000);
  EXPECT_NEAR(two->exchange_s, 1e-3 + 0.64, 1e-9);
}

TEST(PlannerTime, DecodeByHand) {
  const PlannedJob job = job_of({attention()}, 1000, 2);
  auto s = predict_decode_per_token(job, slow_links());
  ASSERT_TRUE(s.ok());
  // Weights once, this rank's 500 K,V rows, and 2 alpha log2(2) for the query and partials.
  EXPECT_NEAR(*s, model::param_count(job.config) * 4 / 1e9 + 500 * 128 / 1e9 + 2e-3, 1e-12);
}

// --compute-dtype bf16: the hardware's bf16 rates replace the f32 ones where measured, and
// decode reads 2-byte weights. Unmeasured bf16 rates leave the f32 prediction.
TEST(PlannerTime, Bf16RunsAtTheBf16Rates) {
  Hardware hw = slow_links();
  PlannedJob job = job_of({attention()}, 1000, 1);
  job.compute = DType::kBf16;
  auto unmeasured = predict_prefill(job, hw);
  ASSERT_TRUE(unmeasured.ok());
  EXPECT_NEAR(unmeasured->compute_s, 15.36e-3 + 64.064e-3 / 0.5, 1e-9);
  hw.bf16.flops = 2e9;
  hw.bf16.attention_flops = 2e9;
  auto measured = predict_prefill(job, hw);
  ASSERT_TRUE(measured.ok());
  EXPECT_NEAR(measured->compute_s, 15.36e-3 / 2 + 64.064e-3 / 2, 1e-9);
  // The same hardware predicts an f32 job at its f32 rates.
  job.compute = DType::kF32;
  EXPECT_NEAR(predict_prefill(job, hw)->compute_s, 15.36e-3 + 64.064e-3 / 0.5, 1e-9);
  // A measured bf16 block rate replaces the two product rates for that kind, as in f32.
  job.compute = DType::kBf16;
  hw.bf16.block_flops[static_cast<size_t>(MixerKind::kAttention)] = 1e10;
  EXPECT_NEAR(predict_prefill(job, hw)->compute_s, (15.36e-3 + 64.064e-3) / 10, 1e-9);

  auto decode = predict_decode_per_token(job, hw);
  ASSERT_TRUE(decode.ok());
  EXPECT_NEAR(*decode, model::param_count(job.config) * 2 / 1e9 + 1000 * 128 / 1e9, 1e-12);
}

TEST(PlannerVerdict, FitsUnderTheLimit) {
  const PlannedJob job = job_of({attention()}, 1000, 2);
  auto r = make_plan(job, slow_links(), int64_t{1} << 30);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->verdict.fits);
  EXPECT_EQ(r->verdict.text.rfind("fits", 0), 0u) << r->verdict.text;
}

TEST(PlannerVerdict, NamesTheBlockAndTheWorkersThatFit) {
  const Hardware hw = slow_links();
  PlannedJob job = job_of({attention(), attention()}, 100000, 2);
  job.task = Task::kGenerate;  // caches grow block by block, so block 1 is where it breaks
  auto at2 = predict_memory(job, hw);
  ASSERT_TRUE(at2.ok());
  const int64_t limit = (at2->blocks[0].peak_bytes + at2->blocks[1].peak_bytes) / 2;
  auto r = make_plan(job, hw, limit);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->verdict.fits);
  EXPECT_EQ(r->verdict.oom_block, 1);
  const int need = r->verdict.workers_needed;
  ASSERT_GT(need, 2);
  auto peak = [&](int p) {
    PlannedJob other = job;
    other.workers = p;
    return predict_memory(other, hw)->peak_bytes;
  };
  EXPECT_LE(peak(need), limit);
  EXPECT_GT(peak(need - 1), limit);
  EXPECT_NE(r->verdict.text.find("OOM at block 1 (attention)"), std::string::npos)
      << r->verdict.text;
  EXPECT_NE(r->verdict.text.find("needs " + std::to_string(need) + " workers"), std::string::npos);
}

TEST(PlannerVerdict, NoWorkerCountFitsWholeSequenceLatents) {
  // Every rank holds all G m latents of a fit block: more workers never fit them.
  const PlannedJob job = job_of({attention(), fit()}, 100000, 2);
  auto m = predict_memory(job, slow_links());
  ASSERT_TRUE(m.ok());
  // Below the latents, the weights and the process alone: no activation ever fits beside them.
  const int64_t limit = m->blocks[1].transient_bytes + m->weight_bytes + m->process_bytes;
  ASSERT_GT(limit, m->blocks[0].peak_bytes);
  auto r = make_plan(job, slow_links(), limit);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->verdict.fits);
  EXPECT_EQ(r->verdict.oom_block, 1);
  EXPECT_EQ(r->verdict.workers_needed, 0);
}

TEST(PlannerReport, JsonCarriesEveryPart) {
  const PlannedJob job = job_of({attention(), fit()}, 1000, 2);
  auto r = make_plan(job, slow_links(), int64_t{1} << 30);
  ASSERT_TRUE(r.ok());
  const auto j = nlohmann::json::parse(plan_to_json(*r, slow_links()));
  EXPECT_EQ(j["tokens"], 1000);
  EXPECT_EQ(j["workers"], 2);
  EXPECT_EQ(j["memory"]["peak"], r->memory.peak_bytes);
  EXPECT_EQ(j["memory"]["blocks"].size(), 2u);
  EXPECT_EQ(j["memory"]["blocks"][1]["mixer"], "fit");
  EXPECT_EQ(j["verdict"]["fits"], true);
  EXPECT_DOUBLE_EQ(j["prefill"]["total_s"].get<double>(), r->prefill.total_s);
  EXPECT_DOUBLE_EQ(j["prefill"]["by_kind"]["fit"]["exchange_s"].get<double>(),
                   r->prefill.blocks[1].exchange_s);
  EXPECT_EQ(j["prefill"]["bytes_sent_per_rank"], r->prefill.bytes_sent);
  EXPECT_TRUE(j["decode_s_per_token"].is_number());
  EXPECT_EQ(j["best"], j["candidates"][0]);
  EXPECT_EQ(j["hardware"]["link_bandwidth"], 1e6);
}

TEST(PlannerReport, BestPlanAvoidsTheContiguousImbalanceAndStripedAtlas) {
  Hardware hw = slow_links();
  hw.link_bandwidth = 1e12;
  auto r = make_plan(job_of({attention()}, 4000, 2, comm::PlanKind::kContiguous), hw, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->candidates.size(), 6u);  // 3 plans x ring, ulysses (4 heads over 2 workers)
  EXPECT_NE(r->candidates.front().plan, comm::PlanKind::kContiguous);
  EXPECT_EQ(r->candidates.back().plan, comm::PlanKind::kContiguous);
  auto with_atlas = make_plan(job_of({attention(), atlas()}, 4000, 2), hw, 0);
  ASSERT_TRUE(with_atlas.ok());
  for (const Candidate& c : with_atlas->candidates) EXPECT_NE(c.plan, comm::PlanKind::kStriped);
  // As asked, striped with atlas is refused with the coordinator's reason.
  auto refused = make_plan(job_of({atlas()}, 4000, 2, comm::PlanKind::kStriped), hw, 0);
  EXPECT_FALSE(refused.ok());
  // A hybrid whose degree does not divide the workers is refused, naming the flag.
  PlannedJob hybrid = job_of({attention()}, 4000, 4);
  hybrid.context_parallel = {attention::ContextParallel::kHybrid, 3};
  const auto bad = make_plan(hybrid, hw, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--ulysses-degree"), std::string::npos)
      << bad.status().to_string();
}

// The hybrid at U = 1 is the ring and at U = P is Ulysses, in time, bytes and memory.
TEST(PlannerHybrid, DegenerateDegreesAreRingAndUlysses) {
  const Hardware hw = slow_links();
  for (const comm::PlanKind plan : {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag}) {
    PlannedJob ring = job_of({attention()}, 1000, 4, plan);
    PlannedJob ulysses = ring;
    ulysses.context_parallel = attention::ContextParallel::kUlysses;
    for (const auto& [same, degree] : {std::pair{ring, 1}, std::pair{ulysses, 4}}) {
      PlannedJob hybrid = ring;
      hybrid.context_parallel = {attention::ContextParallel::kHybrid, degree};
      const auto a = predict_prefill(same, hw), b = predict_prefill(hybrid, hw);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_DOUBLE_EQ(a->compute_s, b->compute_s) << degree;
      EXPECT_DOUBLE_EQ(a->exchange_s, b->exchange_s) << degree;
      EXPECT_EQ(a->bytes_sent, b->bytes_sent) << degree;
      const auto ma = predict_memory(same, hw), mb = predict_memory(hybrid, hw);
      ASSERT_TRUE(ma.ok() && mb.ok());
      EXPECT_EQ(ma->peak_bytes, mb->peak_bytes) << degree;
    }
  }
}

// P = 4, U = 2, R = 2, n = 250, q 32, kv 16 (2 kv heads: U divides them). All-to-all in the
// group: n (2 q + 2 kv) b_e (U - 1)/U = 250 * 96 * 4 / 2 = 48000 bytes, exposed 2 (U - 1) alpha
// + 48000 / B; one ring step of n 2 kv b_e = 32000 bytes, exposed alpha + 32000 / B with the
// step's compute made negligible.
TEST(PlannerHybrid, VolumesByHand) {
  Hardware hw = slow_links();
  hw.attention_flops = 1e18;
  PlannedJob job = job_of({attention()}, 1000, 4);
  job.context_parallel = {attention::ContextParallel::kHybrid, 2};
  const auto t = predict_prefill(job, hw);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->bytes_sent, 48000 + 32000);
  EXPECT_NEAR(t->exchange_s, (2e-3 + 0.048) + (1e-3 + 0.032), 1e-6);
  // Fewer than the ring's (3 steps of 32000) and Ulysses' (U = 4 does not divide the 2 kv heads,
  // so K/V travel per query head: 250 * 128 * 4 * 3/4 = 96000).
  PlannedJob ring = job, ulysses = job;
  ring.context_parallel = attention::ContextParallel::kRing;
  ulysses.context_parallel = attention::ContextParallel::kUlysses;
  EXPECT_EQ(predict_prefill(ring, hw)->bytes_sent, 96000);
  EXPECT_EQ(predict_prefill(ulysses, hw)->bytes_sent, 96000);
}

// make_plan compares the hybrid at every degree that divides the workers and the heads.
TEST(PlannerHybrid, CandidatesIncludeEveryDegree) {
  const auto r = make_plan(job_of({attention()}, 4000, 4), slow_links(), 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  int hybrids = 0;
  for (const Candidate& c : r->candidates) {
    if (c.context_parallel.how != attention::ContextParallel::kHybrid) continue;
    ++hybrids;
    EXPECT_EQ(c.context_parallel.ulysses_degree, 2);
  }
  EXPECT_EQ(hybrids, 3);  // contiguous, zigzag, striped at U = 2 (4 heads: U = 3 does not divide)
  const nlohmann::json j = nlohmann::json::parse(plan_to_json(*r, slow_links()));
  bool listed = false;
  for (const auto& c : j["candidates"]) {
    if (c["context_parallel"] == "hybrid") listed = c.value("ulysses_degree", 0) == 2;
  }
  EXPECT_TRUE(listed) << j["candidates"].dump(2);
}

// --rank-weights: a weighted split on workers of those speeds takes the time of an equal split
// on equal full-speed workers of the same total capacity. Capacities 1 and 0.5 (weights 2,1):
// the critical rank holds 2/3 L at full speed, so compute is 2/3 of one worker's, where equal
// shards on those workers would be (L / 2) / 0.5 = L, one worker's whole time.
TEST(PlannerTime, RankWeightsScaleTheCriticalRank) {
  const std::vector<BlockConfig> blocks = {{.mixer = MixerKind::kLocal, .group = 10}};
  PlannedJob one = job_of(blocks, 3000, 1, comm::PlanKind::kContiguous);
  PlannedJob weighted = job_of(blocks, 3000, 2, comm::PlanKind::kContiguous);
  weighted.rank_weights = {2, 1};
  const auto t1 = predict_prefill(one, slow_links());
  const auto tw = predict_prefill(weighted, slow_links());
  ASSERT_TRUE(t1.ok() && tw.ok()) << tw.status().to_string();
  EXPECT_NEAR(tw->compute_s / t1->compute_s, 2.0 / 3, 1e-9);
  EXPECT_EQ(*busiest_rank_tokens(weighted), 2000);
  EXPECT_NEAR(*critical_rank_tokens(weighted), 2000, 1e-9);
  // The slow rank's 1000 tokens at half speed take as long as 2000 at full speed.
  weighted.rank_weights = {1, 2};
  EXPECT_NEAR(*critical_rank_tokens(weighted), 2000, 1e-9);
  for (const auto kind :
       {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
    PlannedJob job = job_of(blocks, 3000, 4, kind);
    job.rank_weights = {1, 2, 3, 4};
    EXPECT_NEAR(*critical_rank_tokens(job), 3000 * 4 / 10.0, 3000 * 0.02) << comm::plan_name(kind);
  }
  weighted.rank_weights = {1, 2, 3};
  EXPECT_EQ(predict_prefill(weighted, slow_links()).status().code(), StatusCode::kInvalidArgument);
  weighted.rank_weights = {1, 2};
  auto report = make_plan(weighted, slow_links(), 0);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(plan_to_text(*report).find("weights    1,2"), std::string::npos)
      << plan_to_text(*report);
  EXPECT_EQ(nlohmann::json::parse(plan_to_json(*report, slow_links()))["rank_weights"],
            nlohmann::json::parse("[1.0, 2.0]"));
}

}  // namespace
}  // namespace ringmaster::predict
