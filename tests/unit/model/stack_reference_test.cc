// The block stack (attention, window and local mixers) run by P ranks over LocalComm, every
// plan, several records, against the independent PyTorch model (tests/reference/model_ref.py)
// reading the same model directory and FASTA file: MODEL.md's whole-model tolerance, 1e-4.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "comm/local_comm.h"
#include "io/npy.h"
#include "model/init.h"
#include "model/model.h"

namespace ringmaster::model {
namespace {

namespace fs = std::filesystem;
using comm::PartitionPlan;
using comm::PlanKind;

constexpr int32_t kBos = 5;

struct Records {
  std::vector<std::vector<int32_t>> bases;  // ids 0..4 per record, without <bos>
  std::vector<int32_t> stream;              // <bos> b1 .. bn per record
  std::vector<int64_t> lengths;             // stream tokens per record
};

Records make_records(const std::vector<int64_t>& lengths, const std::string& fasta_path) {
  std::mt19937 rng(17);
  Records r;
  std::ofstream fasta(fasta_path);
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<int32_t> ids;
    fasta << ">rec" << i << " test record\n";
    for (int64_t j = 0; j < lengths[i]; ++j) {
      const int32_t id = static_cast<int32_t>(rng() % 5);
      ids.push_back(id);
      fasta << "ACGTN"[id];
      if (j % 60 == 59) fasta << "\n";
    }
    fasta << "\n";
    r.stream.push_back(kBos);
    r.stream.insert(r.stream.end(), ids.begin(), ids.end());
    r.lengths.push_back(lengths[i] + 1);
    r.bases.push_back(std::move(ids));
  }
  return r;
}

struct Outputs {
  std::vector<float> embeddings;  // [N, d], input tokens only, in input order
  std::vector<float> scores;      // [N]
};

// Runs the model on `world` ranks; gathers embeddings and scores by input position.
Outputs run_model(const std::string& dir, const Records& records, PlanKind kind, int world,
                  int64_t align) {
  const comm::RecordLayout layout(records.lengths);
  const auto plan = PartitionPlan::make_for_records(kind, layout, world, align);
  EXPECT_TRUE(plan.ok());
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(30000));
  const int64_t total = layout.num_tokens(), inputs = total - layout.num_records();
  int64_t d = 0;
  Outputs out;
  std::vector<float> hf_all;
  std::vector<float> next_scores(static_cast<size_t>(total), NAN);
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      auto model = Model::load(dir);
      ASSERT_TRUE(model.ok()) << model.status().to_string();
      ThreadPool pool(1);
      ShardContext ctx = make_shard_context(*comms[static_cast<size_t>(r)], *plan, layout, pool,
                                            attention::Distribution::kRing);
      std::vector<int32_t> ids, next;
      for (int64_t t : ctx.tokens) {
        ids.push_back(records.stream[static_cast<size_t>(t)]);
        const bool has_next = t + 1 < total && layout.record_of(t + 1) == layout.record_of(t);
        next.push_back(has_next ? records.stream[static_cast<size_t>(t + 1)] : -1);
      }
      auto hf = model->forward(ctx, ids);
      ASSERT_TRUE(hf.ok()) << hf.status().to_string();
      std::vector<float> scores(ids.size(), NAN);
      if (model->config().causal) model->score(*hf, next, scores.data(), pool);
      std::lock_guard lock(mutex);
      d = hf->dim(1);
      hf_all.resize(static_cast<size_t>(total * d));
      for (size_t i = 0; i < ctx.tokens.size(); ++i) {
        std::memcpy(hf_all.data() + ctx.tokens[i] * d, hf->data<float>() + int64_t(i) * d,
                    static_cast<size_t>(d) * sizeof(float));
        next_scores[static_cast<size_t>(ctx.tokens[i])] = scores[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  // Input token j of record r sits at stream index start(r) + 1 + j; its score was computed
  // at the previous stream index.
  for (int rec = 0; rec < layout.num_records(); ++rec) {
    for (int64_t j = 1; j < layout.length(rec); ++j) {
      const int64_t s = layout.start(rec) + j;
      out.embeddings.insert(out.embeddings.end(), hf_all.begin() + s * d,
                            hf_all.begin() + (s + 1) * d);
      out.scores.push_back(next_scores[static_cast<size_t>(s - 1)]);
    }
  }
  EXPECT_EQ(static_cast<int64_t>(out.scores.size()), inputs);
  return out;
}

std::vector<double> run_reference(const std::string& model_dir, const std::string& fasta,
                                  const std::string& task, const std::string& out_dir) {
  const std::string command =
      "/usr/bin/python3 " RINGMASTER_SOURCE_DIR "/tests/reference/model_ref.py --model " +
      model_dir + " --input " + fasta + " --task " + task + " --out " + out_dir;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  auto array = io::read_npy(out_dir + (task == "embed" ? "/embeddings.npy" : "/scores.npy"));
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  if (!array.ok()) return {};
  return *array->to_f64();
}

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  EXPECT_EQ(got.size(), want.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    diff = std::max(diff, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return diff / scale;
}

class StackReference : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ringmaster_stack_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_P(StackReference, EveryPlanAndWorkerCountMatchesPyTorch) {
  const bool causal = GetParam();
  ModelConfig config;
  config.d_model = 32;
  config.n_heads = 4;
  config.n_kv_heads = 2;
  config.head_dim = 8;
  config.mlp_hidden = 48;
  config.norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.causal = causal;
  config.blocks = {{.mixer = MixerKind::kAttention},
                   {.mixer = MixerKind::kWindow, .window = 37},
                   {.mixer = MixerKind::kLocal, .group = 64}};
  const std::string model_dir = dir_ + "/model", fasta = dir_ + "/in.fa";
  ASSERT_TRUE(init_model(config, 5, model_dir).ok());
  const Records records = make_records({300, 1, 517, 90}, fasta);

  const std::vector<double> want_embed = run_reference(model_dir, fasta, "embed", dir_ + "/ref");
  std::vector<double> want_scores;
  if (causal) want_scores = run_reference(model_dir, fasta, "score", dir_ + "/ref");

  for (PlanKind kind : {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped}) {
    for (int world = 1; world <= 4; ++world) {
      SCOPED_TRACE(std::string(comm::plan_name(kind)) + " P=" + std::to_string(world));
      const Outputs got = run_model(model_dir, records, kind, world, /*align=*/64);
      EXPECT_LE(relative_error(got.embeddings, want_embed), 1e-4);
      if (causal) {
        EXPECT_LE(relative_error(got.scores, want_scores), 1e-4);
      }
    }
  }
}

std::string mask_name(const testing::TestParamInfo<bool>& param) {
  return param.param ? "causal" : "bidirectional";
}

INSTANTIATE_TEST_SUITE_P(CausalAndNot, StackReference, testing::Bool(), mask_name);

}  // namespace
}  // namespace ringmaster::model
