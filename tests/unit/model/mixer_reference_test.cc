// Each mixer alone (attention, window, local, fit, atlas), run by P = 1..4 ranks over LocalComm
// with every plan it allows, against the independent PyTorch model in float64
// (tests/reference/model_ref.py --task mixer): MODEL.md's one-mixer tolerance, 1e-5 relative
// (max |ours - reference| / max |reference| over the output). The input is what block 0's
// mixer sees in a model, h = RMSNorm(embed[tokens], blocks.0.norm1), and the output is the
// mixer's own, before any residual, MLP or final norm can dilute an error. The reference for
// atlas runs with --check-grad, so its autograd gradient is cross-checked on every chunk. The
// attention mixer also runs as a ring x Ulysses hybrid: 2 groups of 2 at P = 4, and the
// degenerate meshes U = 1 (P = 1..4) and U = P (P = 1, 2, 4; U = 4 copies the 2 kv heads).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <utility>

#include "comm/local_comm.h"
#include "io/npy.h"
#include "model/atlas_mixer.h"
#include "model/config.h"
#include "model/fit_mixer.h"
#include "model/fit_stream.h"
#include "model/init.h"
#include "model/layers.h"
#include "model/safetensors.h"
#include "tests/testing/close.h"
#include "tests/testing/model_configs.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/model/stack_harness.h"

namespace ringmaster::model {
namespace {

namespace fs = std::filesystem;
using comm::PlanKind;

struct Case {
  const char* name;
  BlockConfig block;
  int64_t align;  // plan alignment: the fit group or the atlas chunk; 1 cuts anywhere
  bool striped;   // whether the mixer accepts the striped plan
};

const Case kCases[] = {
    {"attention", {.mixer = MixerKind::kAttention}, 1, true},
    {"window", {.mixer = MixerKind::kWindow, .window = 37}, 1, true},
    // Groups of 24 cut by the plan (align 8): local must fetch the rest of a group.
    {"local", {.mixer = MixerKind::kLocal, .group = 24}, 8, true},
    {"fit", {.mixer = MixerKind::kFit, .group = 32, .latents = 4, .global_layers = 2}, 32, true},
    {"atlas_degree1",
     {.mixer = MixerKind::kAtlas,
      .chunk = 16,
      .omega_window = 24,
      .memory_hidden = 16,
      .feature_degree = 1},
     16,
     false},
    {"atlas_degree2",
     {.mixer = MixerKind::kAtlas,
      .chunk = 8,
      .omega_window = 11,
      .memory_hidden = 12,
      .feature_degree = 2},
     8,
     false},
};

ModelConfig one_block(const Case& c, bool causal) {
  return ringmaster::testing::small_model_config(causal, {c.block});
}

AttnWeights attn(const WeightFile& file, const std::string& prefix) {
  return {file.f32(prefix + ".wq"), file.f32(prefix + ".wk"), file.f32(prefix + ".wv"),
          file.f32(prefix + ".wo")};
}

// Block 0's mixer, built through the public factories of model/ (the stream is set for fit).
std::unique_ptr<Mixer> make_block0(const ModelConfig& c, const WeightFile& file,
                                   std::shared_ptr<FitStream>& stream) {
  const BlockConfig& b = c.blocks[0];
  const AttnShape shape{c.n_heads, c.n_kv_heads, c.head_dim, c.rope_theta};
  switch (b.mixer) {
    case MixerKind::kAttention:
      return make_attention_mixer(attn(file, "blocks.0.attn"), shape, c.causal);
    case MixerKind::kWindow:
      return make_window_mixer(attn(file, "blocks.0.attn"), shape, c.causal, b.window);
    case MixerKind::kLocal:
      return make_local_mixer(attn(file, "blocks.0.attn"), shape, c.causal, b.group);
    case MixerKind::kFit: {
      FitWeights w{.read_norm_q = file.f32("blocks.0.read.norm_q"),
                   .read_norm_kv = file.f32("blocks.0.read.norm_kv"),
                   .read = attn(file, "blocks.0.read"),
                   .global = {},
                   .write_norm_q = file.f32("blocks.0.write.norm_q"),
                   .write_norm_kv = file.f32("blocks.0.write.norm_kv"),
                   .write = attn(file, "blocks.0.write")};
      for (int64_t j = 0; j < b.global_layers; ++j) {
        const std::string g = "blocks.0.global." + std::to_string(j);
        w.global.push_back({file.f32(g + ".norm1"),
                            file.f32(g + ".norm2"),
                            attn(file, g + ".attn"),
                            {file.f32(g + ".mlp.w_gate"), file.f32(g + ".mlp.w_up"),
                             file.f32(g + ".mlp.w_down")}});
      }
      stream = std::make_shared<FitStream>(file.f32("fit.latents"), b.group);
      return make_fit_mixer(std::move(w), shape, c.causal, static_cast<float>(c.norm_eps), stream);
    }
    case MixerKind::kAtlas:
      return make_atlas_mixer(c, b, file, "blocks.0.atlas");
  }
  return nullptr;
}

// Block 0's mixer output [stream tokens, d] on `world` ranks with plan `kind`, gathered in
// stream order. Rows no rank wrote stay NaN, so they fail the comparison.
std::vector<float> run_mixer(
    const std::string& dir, const harness::Records& records, PlanKind kind, int world,
    int64_t align, attention::ContextParallelism how = attention::ContextParallel::kRing) {
  const comm::RecordLayout layout(records.lengths);
  const auto plan = comm::PartitionPlan::make_for_records(kind, layout, world, align);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(30000));
  const int64_t total = layout.num_tokens();
  std::vector<float> out;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      const auto config = parse_config(dir + "/config.json");
      ASSERT_TRUE(config.ok()) << config.status().to_string();
      const auto file = WeightFile::open(dir + "/weights.safetensors");
      ASSERT_TRUE(file.ok()) << file.status().to_string();
      std::shared_ptr<FitStream> stream;
      const std::unique_ptr<Mixer> mixer = make_block0(*config, *file, stream);
      ASSERT_NE(mixer, nullptr);
      ThreadPool pool(1);
      const ShardContext ctx =
          make_shard_context(*comms[static_cast<size_t>(r)], *plan, layout, pool, how);
      const int64_t n = ctx.num_local(), d = config->d_model;
      const Tensor embed = file->f32("embed"), norm1 = file->f32("blocks.0.norm1");
      Tensor x = Tensor::empty({n, d}, DType::kF32), h = Tensor::empty({n, d}, DType::kF32);
      Tensor y = Tensor::empty({n, d}, DType::kF32);
      for (int64_t i = 0; i < n; ++i) {
        const int32_t id = records.stream[static_cast<size_t>(ctx.tokens[static_cast<size_t>(i)])];
        std::memcpy(x.data<float>() + i * d, embed.const_data<float>() + int64_t{id} * d,
                    static_cast<size_t>(d) * sizeof(float));
      }
      rms_norm(x.data<float>(), n, d, norm1.const_data<float>(),
               static_cast<float>(config->norm_eps), h.data<float>());
      if (stream) {
        const Status begun = stream->begin(ctx);
        ASSERT_TRUE(begun.ok()) << begun.to_string();
      }
      const Status status = mixer->forward(ctx, h, y, 0);
      ASSERT_TRUE(status.ok()) << status.to_string();
      std::lock_guard lock(mutex);
      out.resize(static_cast<size_t>(total * d), NAN);
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(out.data() + ctx.tokens[static_cast<size_t>(i)] * d, y.data<float>() + i * d,
                    static_cast<size_t>(d) * sizeof(float));
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// model_ref.py's block-0 mixer output on `fasta`, [stream tokens, d] as doubles.
std::vector<double> reference_mixer(const std::string& model_dir, const std::string& fasta,
                                    const std::string& out_dir, bool check_grad) {
  const std::string command = "/usr/bin/python3 " RINGMASTER_SOURCE_DIR
                              "/tests/reference/model_ref.py --task mixer --model " +
                              model_dir + " --input " + fasta + " --out " + out_dir +
                              (check_grad ? " --check-grad" : "");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  auto array = io::read_npy(out_dir + "/mixer.npy");
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  if (!array.ok()) return {};
  return *array->to_f64();
}

class MixerReference : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  ringmaster::testing::TempDir temp_;
  const std::string dir_ = temp_.path().string();
};

TEST_P(MixerReference, EveryPlanAndWorkerCountWithinOneMixerTolerance) {
  const auto [index, causal] = GetParam();
  const Case& c = kCases[index];
  const std::string model_dir = dir_ + "/model", fasta = dir_ + "/in.fa";
  ASSERT_TRUE(init_model(one_block(c, causal), 13, model_dir).ok());
  // Three records: longer than several groups and chunks, ragged, and a single base.
  const harness::Records records = harness::make_records({213, 96, 1}, fasta);
  const bool is_atlas = c.block.mixer == MixerKind::kAtlas;
  const std::vector<double> want = reference_mixer(model_dir, fasta, dir_ + "/ref", is_atlas);
  ASSERT_FALSE(want.empty());

  double worst = 0;
  std::string worst_at;
  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    if (kind == PlanKind::kStriped && !c.striped) continue;
    for (int world = 1; world <= 4; ++world) {
      const std::string at = std::string(comm::plan_name(kind)) + " P=" + std::to_string(world);
      SCOPED_TRACE(at);
      const std::vector<float> got = run_mixer(model_dir, records, kind, world, c.align);
      const ringmaster::testing::Closeness close = ringmaster::testing::closeness(got, want);
      EXPECT_TRUE(ringmaster::testing::within(close, 1e-5)) << close.where;
      const double error = close.rel;
      if (!(error <= worst)) {
        worst = error;
        worst_at = at;
      }
    }
    if (c.block.mixer != MixerKind::kAttention) continue;
    for (const auto& [world, degree] :
         {std::pair{4, 2}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {2, 2}, {4, 4}}) {
      const std::string at = std::string(comm::plan_name(kind)) +
                             " hybrid P=" + std::to_string(world) + " U=" + std::to_string(degree);
      SCOPED_TRACE(at);
      const std::vector<float> got =
          run_mixer(model_dir, records, kind, world, c.align,
                    attention::ContextParallelism(attention::ContextParallel::kHybrid, degree));
      const ringmaster::testing::Closeness close = ringmaster::testing::closeness(got, want);
      EXPECT_TRUE(ringmaster::testing::within(close, 1e-5)) << close.where;
      if (!(close.rel <= worst)) {
        worst = close.rel;
        worst_at = at;
      }
    }
  }
  RecordProperty("max_relative_error", std::to_string(worst));
  std::printf("mixer %s %s: max relative error %.3g (%s)\n", c.name,
              causal ? "causal" : "bidirectional", worst, worst_at.c_str());
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<int, bool>>& param) {
  return std::string(kCases[std::get<0>(param.param)].name) +
         (std::get<1>(param.param) ? "_causal" : "_bidirectional");
}

INSTANTIATE_TEST_SUITE_P(
    OneBlock, MixerReference,
    ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCases))), ::testing::Bool()),
    case_name);

}  // namespace
}  // namespace ringmaster::model
