// What the other integration tests leave out, each through real processes (issue 13, "Coverage
// holes"): fit and atlas blocks, Ulysses and the bytes vocabulary in `ringmaster run` model jobs,
// and models stored by `init --dtype bf16|f16`, each against the independent PyTorch model
// (tests/reference/model_ref.py) at MODEL.md's whole-model tolerance; bit-identical output of two
// runs; --plan-align; `inspect`; every `bench` subcommand as a smoke run; rank hints from
// OMPI_COMM_WORLD_RANK and RANK; a worker that fails (not killed) under --max-restarts.
//
// The models, inputs and reference outputs come from two ctest fixtures made once per run:
// make_model_coverage_env.sh (fit/atlas, bytes, bf16, f16) and make_model_job_env.sh (the
// attention-family models of model_job_test.cc).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "io/npy.h"
#include "tests/integration/process.h"
#include "tests/testing/close.h"

namespace ringmaster::testing {
namespace {

namespace fs = std::filesystem;

constexpr double kTolerance = 1e-4;  // MODEL.md: a whole model's hf and scores, fp32
const std::string kToken = "52d331d98d2e745871a878fc6f5970ac";

// A file of make_model_coverage_env.sh's directory, or of make_model_job_env.sh's.
std::string cov(const std::string& name) {
  return std::string(RINGMASTER_MODEL_COVERAGE_ENV) + "/" + name;
}
std::string job_env(const std::string& name) {
  return std::string(RINGMASTER_MODEL_JOB_ENV) + "/" + name;
}

class CoverageEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(cov("complete")))
        << RINGMASTER_MODEL_COVERAGE_ENV << " is incomplete: run ModelCoverageEnv.Setup";
    ASSERT_TRUE(fs::exists(job_env("complete")))
        << RINGMASTER_MODEL_JOB_ENV << " is incomplete: run ModelJobEnv.Setup";
  }
};

// `ringmaster run` of a model job; its output and exit code checked by the caller.
int run_model_job(const std::string& model, const std::string& input, const std::string& task,
                  int workers, const std::string& out, std::vector<std::string> extra,
                  std::string* output, const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> args = {ringmaster_binary(),
                                   "run",
                                   "--model",
                                   model,
                                   "--input",
                                   input,
                                   "--task",
                                   task,
                                   "--workers",
                                   std::to_string(workers),
                                   "--out",
                                   out};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_command(args, output, env);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<double> load(const std::string& path) { return load_npy(path); }

// --- fit, atlas, Ulysses, bytes, stored dtypes: against the PyTorch model -------------------

TEST_F(CoverageEnv, FitAndAtlasBlocksMatchReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(cov("fit_atlas"), cov("in.fa"), "score", 3, dir.file("score"),
                          {"--plan", "zigzag", "--quiet"}, &output),
            0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("score/scores.npy")),
                        load(cov("ref_fit_atlas_score/scores.npy")), kTolerance));
  ASSERT_EQ(run_model_job(cov("fit_atlas"), cov("in.fa"), "embed", 2, dir.file("embed"),
                          {"--plan", "contiguous", "--threads", "2", "--quiet"}, &output),
            0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("embed/embeddings.npy")),
                        load(cov("ref_fit_atlas_embed/embeddings.npy")), kTolerance));
}

// Global attention blocks spread by Ulysses all-to-all: 4 heads (2 kv heads) over 2 and 4 workers.
TEST_F(CoverageEnv, UlyssesModelJobMatchesReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 2, dir.file("p2"),
                          {"--context-parallel", "ulysses", "--quiet"}, &output),
            0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("p2/scores.npy")),
                        load(job_env("ref_causal_score/scores.npy")), kTolerance));
  ASSERT_EQ(
      run_model_job(job_env("causal"), job_env("in.fa"), "embed", 4, dir.file("p4"),
                    {"--context-parallel", "ulysses", "--plan", "contiguous", "--quiet"}, &output),
      0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("p4/embeddings.npy")),
                        load(job_env("ref_causal_embed/embeddings.npy")), kTolerance));
}

// The ring x Ulysses hybrid: 4 workers as 2 Ulysses groups of 2 (the 4 heads and 2 kv heads
// split, no copies), zigzag reordered inside each group, ring across the groups.
TEST_F(CoverageEnv, HybridModelJobMatchesReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 4, dir.file("p4"),
                          {"--context-parallel", "hybrid", "--ulysses-degree", "2", "--plan",
                           "zigzag", "--quiet"},
                          &output),
            0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("p4/scores.npy")),
                        load(job_env("ref_causal_score/scores.npy")), kTolerance));
}

// --rank-weights (workers of different speeds): unequal shards through real processes give the
// reference for fit and atlas blocks (zigzag, P = 2 and 3), attention, window and local blocks
// under every plan and context parallelism (ring striped, Ulysses contiguous, hybrid zigzag).
TEST_F(CoverageEnv, RankWeightedJobsMatchReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  struct Job {
    std::string model, input, task;
    int workers;
    std::vector<std::string> flags;
    std::string reference;
  };
  const std::vector<Job> jobs = {
      {cov("fit_atlas"),
       cov("in.fa"),
       "score",
       2,
       {"--plan", "zigzag", "--rank-weights", "1,3"},
       cov("ref_fit_atlas_score/scores.npy")},
      {cov("fit_atlas"),
       cov("in.fa"),
       "embed",
       3,
       {"--plan", "contiguous", "--rank-weights", "3,1,2"},
       cov("ref_fit_atlas_embed/embeddings.npy")},
      {job_env("causal"),
       job_env("in.fa"),
       "score",
       4,
       {"--plan", "striped", "--rank-weights", "1,2,3,4"},
       job_env("ref_causal_score/scores.npy")},
      {job_env("causal"),
       job_env("in.fa"),
       "embed",
       4,
       {"--context-parallel", "ulysses", "--plan", "contiguous", "--rank-weights", "4,3,2,1"},
       job_env("ref_causal_embed/embeddings.npy")},
      {job_env("causal"),
       job_env("in.fa"),
       "score",
       4,
       {"--context-parallel", "hybrid", "--ulysses-degree", "2", "--plan", "zigzag",
        "--rank-weights", "1,2,3,4"},
       job_env("ref_causal_score/scores.npy")},
  };
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& job = jobs[i];
    const std::string out = dir.file("job" + std::to_string(i));
    std::vector<std::string> flags = job.flags;
    flags.push_back("--quiet");
    ASSERT_EQ(run_model_job(job.model, job.input, job.task, job.workers, out, flags, &output), 0)
        << output;
    EXPECT_NE(output.find("rank weights (0: weight"), std::string::npos) << output;
    const std::string file = job.task == "score" ? "/scores.npy" : "/embeddings.npy";
    EXPECT_TRUE(all_close(load(out + file), load(job.reference), kTolerance)) << "job " << i;
    // summary.json says how the job was laid out.
    const nlohmann::json summary = nlohmann::json::parse(read_bytes(out + "/summary.json"));
    EXPECT_FALSE(summary["rank_weights"].is_null()) << summary.dump(2);
    if (i == jobs.size() - 1) {
      EXPECT_EQ(summary["context_parallel"], "hybrid") << summary.dump(2);
      EXPECT_EQ(summary["ulysses_degree"], 2) << summary.dump(2);
      EXPECT_EQ(summary["rank_weights"], nlohmann::json::array({1.0, 2.0, 3.0, 4.0}));
    }
  }
  // A wrong count names the flag, before any worker starts.
  EXPECT_NE(run_model_job(job_env("causal"), job_env("in.fa"), "embed", 2, dir.file("bad"),
                          {"--rank-weights", "1,2,3", "--quiet"}, &output),
            0);
  EXPECT_NE(output.find("--rank-weights has 3 weights for --workers 2"), std::string::npos)
      << output;
}

// --rank-weights auto through real processes: each worker times a block's MLP as it joins and
// the job is cut for the weights the coordinator makes of the speeds. Measured here, the weights
// are whatever this shared machine gives, so the check is that they are well formed and the
// scores still match the reference. In test builds RINGMASTER_TESTING_SPEEDS gives the workers
// their speeds: the cut then follows them exactly, alike speeds (within the rounding) give the
// unweighted job's bytes, and under --max-memory-per-worker the weights move toward equal.
TEST_F(CoverageEnv, MeasuredRankWeightsMatchReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(cov("fit_atlas"), cov("in.fa"), "score", 2, dir.file("measured"),
                          {"--plan", "zigzag", "--rank-weights", "auto", "--quiet"}, &output),
            0)
      << output;
  EXPECT_NE(output.find("measured speeds (0: "), std::string::npos) << output;
  EXPECT_TRUE(all_close(load(dir.file("measured/scores.npy")),
                        load(cov("ref_fit_atlas_score/scores.npy")), kTolerance));
  const nlohmann::json measured =
      nlohmann::json::parse(read_bytes(dir.file("measured/summary.json")));
  ASSERT_EQ(measured["rank_weights"].size(), 2u) << measured.dump(2);
  ASSERT_EQ(measured["rank_speeds"].size(), 2u) << measured.dump(2);
  double heaviest = 0;
  for (int r = 0; r < 2; ++r) {
    const double w = measured["rank_weights"][r].get<double>();
    EXPECT_GE(w, 0.125);
    EXPECT_LE(w, 1.0);
    heaviest = std::max(heaviest, w);
    EXPECT_GT(measured["rank_speeds"][r].get<double>(), 0.0);
  }
  EXPECT_EQ(heaviest, 1.0);
#ifdef RINGMASTER_HAVE_TESTING_FAULTS
  const std::vector<std::string> causal_score = {"--plan", "contiguous", "--quiet"};
  std::vector<std::string> flags = causal_score;
  flags.insert(flags.end(), {"--rank-weights", "auto"});
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("given"), flags,
                          &output, {{"RINGMASTER_TESTING_SPEEDS", "3000,1500,750"}}),
            0)
      << output;
  EXPECT_NE(output.find("0: 3000 rows/s, weight 1, "), std::string::npos) << output;
  EXPECT_NE(output.find("2: 750 rows/s, weight 0.25, "), std::string::npos) << output;
  EXPECT_TRUE(all_close(load(dir.file("given/scores.npy")),
                        load(job_env("ref_causal_score/scores.npy")), kTolerance));
  const nlohmann::json given = nlohmann::json::parse(read_bytes(dir.file("given/summary.json")));
  EXPECT_EQ(given["rank_weights"], nlohmann::json::array({1.0, 0.5, 0.25})) << given.dump(2);
  EXPECT_EQ(given["rank_speeds"], nlohmann::json::array({3000.0, 1500.0, 750.0}));

  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("alike"), flags,
                          &output, {{"RINGMASTER_TESTING_SPEEDS", "1000,1040,980"}}),
            0)
      << output;
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("equal"),
                          causal_score, &output),
            0)
      << output;
  EXPECT_EQ(read_bytes(dir.file("alike/scores.npy")), read_bytes(dir.file("equal/scores.npy")));
  // Equal bytes could be equal NaN: the alike job matches the reference too.
  EXPECT_TRUE(all_close(load(dir.file("alike/scores.npy")),
                        load(job_env("ref_causal_score/scores.npy")), kTolerance));

  // --max-memory-per-worker between what the busiest rank holds on the equal split and on the
  // measured one (as `run` predicts them: plan --hardware typical): the launcher caps one rank's
  // tokens, and the weights move toward equal until the cut keeps to it.
  auto predicted_peak = [&](const std::string& weights) -> int64_t {
    const std::string json = dir.file("plan" + weights + ".json");
    const std::string input_tokens = std::to_string(given["tokens"].get<int64_t>() - 1);
    if (run_command({ringmaster_binary(), "plan", "--model", job_env("causal"), "--task", "score",
                     "--tokens", input_tokens, "--workers", "3", "--plan", "contiguous",
                     "--rank-weights", weights, "--hardware", "typical", "--json", json},
                    &output) != 0) {
      ADD_FAILURE() << output;
      return 0;
    }
    return nlohmann::json::parse(read_bytes(json))["memory"]["peak"].get<int64_t>();
  };
  const int64_t equal_peak = predicted_peak("1,1,1"), measured_peak = predicted_peak("1,0.5,0.25");
  ASSERT_LT(equal_peak, measured_peak);
  flags.insert(flags.end(),
               {"--max-memory-per-worker", std::to_string((equal_peak + measured_peak) / 2)});
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("capped"),
                          flags, &output, {{"RINGMASTER_TESTING_SPEEDS", "3000,1500,750"}}),
            0)
      << output;
  EXPECT_NE(output.find("weights 1,0.5,0.25 put "), std::string::npos) << output;
  const nlohmann::json capped = nlohmann::json::parse(read_bytes(dir.file("capped/summary.json")));
  const std::vector<double> weights = capped["rank_weights"].get<std::vector<double>>();
  ASSERT_EQ(weights.size(), 3u) << capped.dump(2);
  EXPECT_EQ(weights[0], 1.0);
  EXPECT_GT(weights[1], 0.5);
  EXPECT_LT(weights[1], 1.0);
  EXPECT_GT(weights[2], 0.25);
  EXPECT_TRUE(all_close(load(dir.file("capped/scores.npy")),
                        load(job_env("ref_causal_score/scores.npy")), kTolerance));
#endif
}

// A cluster launch's coordinator checks --max-memory-per-worker as `run` does: a job predicted
// over the node's memory ends with exit 6 before it listens (so no worker is started) and writes
// nothing.
TEST_F(CoverageEnv, CoordinatorRefusesAJobOverItsMemoryLimit) {
  TempDir dir;
  std::string output;
  EXPECT_EQ(run_command({ringmaster_binary(), "coordinator", "--listen", "127.0.0.1:0", "--workers",
                         "2", "--model", job_env("causal"), "--input", job_env("in.fa"), "--task",
                         "score", "--out", dir.file("out"), "--max-memory-per-worker", "1MiB"},
                        &output, {{"RINGMASTER_TOKEN", kToken}}),
            6)
      << output;
  EXPECT_NE(output.find("refusing the job: OOM"), std::string::npos) << output;
  EXPECT_EQ(output.find("listening on"), std::string::npos) << output;
  EXPECT_FALSE(fs::exists(dir.file("out")));
}

// A bytes model on a text file: every byte value (NUL, CR LF, non-UTF-8) is a token.
TEST_F(CoverageEnv, BytesVocabularyTextJobMatchesReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(cov("bytes"), cov("text.txt"), "score", 2, dir.file("out"), {"--quiet"},
                          &output),
            0)
      << output;
  const std::vector<double> got = load(dir.file("out/scores.npy"));
  EXPECT_EQ(got.size(), 700u);  // one score per byte
  EXPECT_TRUE(all_close(got, load(cov("ref_bytes_score/scores.npy")), kTolerance));
  std::ifstream records(dir.file("out/records.tsv"));
  std::string header, first;
  std::getline(records, header);
  std::getline(records, first);
  EXPECT_EQ(first.substr(0, 15), "text.txt\t0\t700\t") << first;
}

// The dtype of every tensor in a safetensors header.
std::set<std::string> stored_dtypes(const std::string& path) {
  const std::string bytes = read_bytes(path);
  if (bytes.size() < 8) return {};
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  std::set<std::string> dtypes;
  for (const auto& [name, entry] : header.items()) {
    if (name != "__metadata__") dtypes.insert(entry.at("dtype").get<std::string>());
  }
  return dtypes;
}

// `init --dtype bf16|f16` stores every tensor in that dtype; a job widens them exactly to f32
// (MODEL.md) and equals the reference reading the same stored weights.
TEST_F(CoverageEnv, InitBf16AndF16ModelsRunAndMatchReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  EXPECT_EQ(stored_dtypes(cov("bf16/weights.safetensors")), std::set<std::string>{"BF16"});
  EXPECT_EQ(stored_dtypes(cov("f16/weights.safetensors")), std::set<std::string>{"F16"});
  TempDir dir;
  std::string output;
  ASSERT_EQ(
      run_model_job(cov("bf16"), cov("in.fa"), "embed", 2, dir.file("bf16"), {"--quiet"}, &output),
      0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("bf16/embeddings.npy")),
                        load(cov("ref_bf16_embed/embeddings.npy")), kTolerance));
  ASSERT_EQ(
      run_model_job(cov("f16"), cov("in.fa"), "score", 3, dir.file("f16"), {"--quiet"}, &output), 0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("f16/scores.npy")), load(cov("ref_f16_score/scores.npy")),
                        kTolerance));
}

// --- telemetry: what every rank's Done and summary.json say the data plane did ----------------

// A demo-like job (fit and atlas blocks, 2 workers): the log names the plan, and summary.json
// has, for every rank, bytes sent and received and time waiting in the fit and atlas blocks
// (their latents all-gather and memory-state chain), phases that add up to the rank's totals,
// and wall = compute + wait. The coordinator's per-rank log lines carry the same numbers.
TEST_F(CoverageEnv, TelemetryCountsEveryBlockKindsTraffic) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_model_job(cov("fit_atlas"), cov("in.fa"), "score", 2, dir.file("out"),
                          {"--plan", "zigzag", "--quiet"}, &output),
            0)
      << output;
  EXPECT_NE(output.find("plan zigzag aligned to 32 tokens"), std::string::npos) << output;
  const nlohmann::json summary = nlohmann::json::parse(read_bytes(dir.file("out/summary.json")));
  ASSERT_TRUE(summary.contains("telemetry")) << summary.dump(2);
  const nlohmann::json& telemetry = summary["telemetry"];
  ASSERT_EQ(telemetry["ranks"].size(), 2u) << telemetry.dump(2);
  for (const auto& rank : telemetry["ranks"]) {
    SCOPED_TRACE("rank " + rank["rank"].dump());
    const double wall = rank["wall_s"], compute = rank["compute_s"], wait = rank["wait_s"];
    EXPECT_GT(wall, 0);
    EXPECT_NEAR(compute + wait, wall, 1e-9);
    EXPECT_GT(rank["bytes_sent"].get<int64_t>(), 0);
    EXPECT_GT(rank["bytes_received"].get<int64_t>(), 0);
    for (const char* kind : {"fit", "atlas"}) {
      ASSERT_TRUE(rank["phases"].contains(kind)) << rank.dump(2);
      const nlohmann::json& phase = rank["phases"][kind];
      EXPECT_EQ(phase["blocks"].get<int64_t>(), 2) << kind;  // two blocks of each kind
      EXPECT_GT(phase["bytes_sent"].get<int64_t>(), 0) << kind;
      EXPECT_GT(phase["bytes_received"].get<int64_t>(), 0) << kind;
      EXPECT_GT(phase["wait_s"].get<double>(), 0) << kind;
      EXPECT_NEAR(phase["compute_s"].get<double>() + phase["wait_s"].get<double>(),
                  phase["wall_s"].get<double>(), 1e-9)
          << kind;
    }
    int64_t sent = 0, received = 0;
    double phase_wall = 0, phase_wait = 0;
    for (const auto& [name, phase] : rank["phases"].items()) {
      sent += phase["bytes_sent"].get<int64_t>();
      received += phase["bytes_received"].get<int64_t>();
      phase_wall += phase["wall_s"].get<double>();
      phase_wait += phase["wait_s"].get<double>();
    }
    EXPECT_EQ(sent, rank["bytes_sent"].get<int64_t>());
    EXPECT_EQ(received, rank["bytes_received"].get<int64_t>());
    EXPECT_NEAR(phase_wait, wait, 1e-9);
    EXPECT_NEAR(phase_wall, wall, 1e-6);
  }
  // What one rank sends, another receives.
  EXPECT_EQ(telemetry["bytes_sent"], telemetry["bytes_received"]);
  for (const char* line : {"rank 0 (", "rank 1 ("}) {
    const size_t at = output.find(line);
    ASSERT_NE(at, std::string::npos) << output;
    const std::string done = output.substr(at, output.find('\n', at) - at);
    EXPECT_NE(done.find("received (fit (2 blocks): compute"), std::string::npos) << done;
    EXPECT_NE(done.find("atlas (2 blocks)"), std::string::npos) << done;
  }
}

// --- determinism and --plan-align ------------------------------------------------------------

// Same flags twice (fit, atlas and window blocks, 3 workers of 2 threads): the same bytes.
TEST_F(CoverageEnv, TwoRunsWriteIdenticalBytes) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string output;
  for (const char* out : {"a", "b"}) {
    ASSERT_EQ(run_model_job(cov("fit_atlas"), cov("in.fa"), "embed", 3, dir.file(out),
                            {"--threads", "2", "--quiet"}, &output),
              0)
        << output;
  }
  const std::string a = read_bytes(dir.file("a/embeddings.npy"));
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == read_bytes(dir.file("b/embeddings.npy"))) << "embeddings.npy differs";
}

// The token count the coordinator logged for `rank` ("rank R of P: running B blocks over N of").
std::string rank_tokens(const std::string& log, int rank, int world) {
  const std::string marker =
      "rank " + std::to_string(rank) + " of " + std::to_string(world) + ": running ";
  const size_t at = log.find(marker);
  if (at == std::string::npos) return "";
  const size_t over = log.find(" over ", at);
  const size_t of = log.find(" of ", over);
  return log.substr(over + 6, of - over - 6);
}

// --plan-align 100 with local blocks of 32: cuts aligned to lcm = 800 tokens, said in the log;
// the output equals the unaligned run's (and the reference).
TEST_F(CoverageEnv, PlanAlignMovesTheCutsNotTheOutput) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  std::string plain_log, aligned_log;
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("plain"),
                          {"--plan", "contiguous", "--quiet"}, &plain_log),
            0)
      << plain_log;
  ASSERT_EQ(run_model_job(job_env("causal"), job_env("in.fa"), "score", 3, dir.file("aligned"),
                          {"--plan", "contiguous", "--plan-align", "100", "--quiet"}, &aligned_log),
            0)
      << aligned_log;
  EXPECT_NE(plain_log.find("plan contiguous aligned to 32 tokens"), std::string::npos) << plain_log;
  EXPECT_NE(aligned_log.find("plan contiguous aligned to 800 tokens"), std::string::npos)
      << aligned_log;
  std::string plain_cuts, aligned_cuts;
  for (int r = 0; r < 3; ++r) {
    plain_cuts += rank_tokens(plain_log, r, 3) + " ";
    aligned_cuts += rank_tokens(aligned_log, r, 3) + " ";
  }
  EXPECT_NE(plain_cuts, aligned_cuts) << "--plan-align did not move a cut";
  const std::vector<double> plain = load(dir.file("plain/scores.npy"));
  const std::vector<double> aligned = load(dir.file("aligned/scores.npy"));
  EXPECT_TRUE(all_close(aligned, plain, 1e-6));
  EXPECT_TRUE(all_close(aligned, load(job_env("ref_causal_score/scores.npy")), kTolerance));
}

// --- inspect ---------------------------------------------------------------------------------

TEST_F(CoverageEnv, InspectNamesTheArchitecture) {
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "inspect", cov("fit_atlas"), "--tokens", "4096",
                         "--workers", "2"},
                        &output),
            0)
      << output;
  for (const char* line : {"vocab       dna (V = 8)", "attention   causal",
                           "block 0     fit group=32 latents=4 global_layers=1",
                           "block 1     atlas chunk=16 omega_window=24 memory_hidden=16 "
                           "feature_degree=1",
                           "block 2     window w=24", "block 4     fit group=32 latents=4",
                           "parameters", "4096 tokens on 2 workers"}) {
    EXPECT_NE(output.find(line), std::string::npos) << "no '" << line << "' in\n" << output;
  }
}

// A missing directory, truncated weights, and weights of another architecture: non-zero, and
// the message names the file (and the tensor).
TEST_F(CoverageEnv, InspectOfABrokenModelFailsNamingTheFile) {
  TempDir dir;
  std::string output;
  EXPECT_NE(run_command({ringmaster_binary(), "inspect", dir.file("absent")}, &output), 0);
  EXPECT_NE(output.find(dir.file("absent") + "/config.json"), std::string::npos) << output;

  fs::copy(cov("bytes"), dir.file("truncated"));
  fs::resize_file(dir.file("truncated/weights.safetensors"), 1000);
  EXPECT_NE(run_command({ringmaster_binary(), "inspect", dir.file("truncated")}, &output), 0);
  EXPECT_NE(output.find(dir.file("truncated") + "/weights.safetensors: byte 0"), std::string::npos)
      << output;

  // The 3-block bytes model's config over the 4-block dna model's weights.
  fs::copy(cov("bf16"), dir.file("mismatch"));
  fs::copy_file(cov("bytes/config.json"), dir.file("mismatch/config.json"),
                fs::copy_options::overwrite_existing);
  EXPECT_NE(run_command({ringmaster_binary(), "inspect", dir.file("mismatch")}, &output), 0);
  EXPECT_NE(output.find("weights.safetensors"), std::string::npos) << output;
  EXPECT_NE(output.find("tensor '"), std::string::npos) << output;
}

// --- bench smoke runs: exit 0 and a JSON array of rows with the documented fields ------------

nlohmann::json read_json_rows(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json rows = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(rows.is_discarded()) << path << " is not valid JSON:\n" << read_bytes(path);
  EXPECT_TRUE(rows.is_array()) << rows.dump();
  EXPECT_FALSE(rows.empty()) << path;
  return rows;
}

void expect_number_fields(const nlohmann::json& rows, const std::vector<std::string>& fields) {
  for (const auto& row : rows) {
    for (const std::string& field : fields) {
      ASSERT_TRUE(row.contains(field)) << "no " << field << " in " << row.dump();
      EXPECT_TRUE(row[field].is_number()) << field << " in " << row.dump();
      if (row[field].is_number()) {
        EXPECT_TRUE(std::isfinite(row[field].get<double>())) << field;
      }
    }
  }
}

TEST(BenchSmoke, Kernel) {
  TempDir dir;
  std::string output;
  ASSERT_EQ(
      run_command({ringmaster_binary(), "bench", "kernel", "--lengths", "256", "--head-dims", "32",
                   "--threads", "1", "--rss-length", "0", "--json", dir.file("kernel.json")},
                  &output),
      0)
      << output;
  const nlohmann::json rows = read_json_rows(dir.file("kernel.json"));
  EXPECT_EQ(rows.size(), 2u) << rows.dump(2);  // bidirectional and causal
  expect_number_fields(rows, {"L", "head_dim", "threads", "kernel_seconds", "kernel_gflops",
                              "sgemm_gflops", "ratio", "peak_rss_mib"});
}

TEST(BenchSmoke, Ring) {
  if (!have_ucx()) GTEST_SKIP() << "bench ring runs UCX ranks";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(),
                         "bench",
                         "ring",
                         "--workers",
                         "1,2",
                         "--tokens",
                         "512",
                         "--plan",
                         "zigzag",
                         "--context-parallel",
                         "ring,ulysses,hybrid",
                         "--ulysses-degree",
                         "2",
                         "--heads",
                         "4",
                         "--kv-heads",
                         "2",
                         "--head-dim",
                         "16",
                         "--no-perftest",
                         "--json",
                         dir.file("ring.json")},
                        &output),
            0)
      << output;
  const nlohmann::json rows = read_json_rows(dir.file("ring.json"));
  // 2 worker counts x ring and Ulysses, and the hybrid at 2 workers (U = 2 does not divide 1).
  ASSERT_EQ(rows.size(), 5u) << rows.dump(2);
  expect_number_fields(rows, {"workers", "tokens", "wall_s", "compute_s", "wait_s", "bytes_moved",
                              "tokens_per_s", "efficiency", "ulysses_degree"});
  EXPECT_EQ(rows[4]["context_parallel"], "hybrid") << rows.dump(2);
  EXPECT_EQ(rows[4]["ulysses_degree"], 2) << rows.dump(2);
  EXPECT_GT(rows[4]["bytes_moved"].get<int64_t>(), 0) << rows.dump(2);
}

TEST_F(CoverageEnv, BenchModel) {
  if (!have_ucx()) GTEST_SKIP() << "two workers need UCX";
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "bench", "model", "--model", cov("fit_atlas"),
                         "--tokens", "600", "--workers", "1,2", "--work-dir", dir.file("work"),
                         "--json", dir.file("model.json")},
                        &output),
            0)
      << output;
  const nlohmann::json rows = read_json_rows(dir.file("model.json"));
  EXPECT_EQ(rows.size(), 2u) << rows.dump(2);
  expect_number_fields(
      rows, {"tokens", "workers", "wall_s", "tokens_per_s", "efficiency", "max_peak_rss_mib"});
}

// bench sweep and bench report (launcher/sweep.h): a tiny sweep (2K tokens on 1 and 2 workers)
// writes one run file each; the report writes the CSV with one row per configuration, the
// markdown table and the plots; a second sweep skips the runs done, and a failed run is skipped
// until --rerun-failed.
TEST_F(CoverageEnv, BenchSweepResumesAndReports) {
  if (!have_ucx()) GTEST_SKIP() << "two workers need UCX";
  TempDir dir;
  const std::string runs = dir.file("runs");
  const std::vector<std::string> sweep = {
      ringmaster_binary(), "bench", "sweep",  "--model", cov("fit_atlas"), "--workers", "1,2",
      "--tokens",          "2k",    "--task", "score",   "--out",          runs};
  std::string output;
  ASSERT_EQ(run_command(sweep, &output), 0) << output;
  EXPECT_NE(output.find("sweep: 2 run, 0 skipped (done), 0 failed"), std::string::npos) << output;
  for (const char* id : {"fit_atlas_score_t2048_w1_r0", "fit_atlas_score_t2048_w2_r0"}) {
    const nlohmann::json run = nlohmann::json::parse(read_bytes(runs + "/" + id + ".json"));
    EXPECT_EQ(run["status"], "ok") << run.dump(2);
    EXPECT_EQ(run["config"]["tokens"], 2048);
    EXPECT_TRUE(run["git_commit"].is_string());
    EXPECT_TRUE(run["host"]["name"].is_string());
    EXPECT_GT(run["wall_s"].get<double>(), 0);
    EXPECT_GT(run["max_peak_rss_bytes"].get<int64_t>(), 0);
    EXPECT_TRUE(run["phases"].contains("atlas")) << run.dump(2);
    EXPECT_GT(run["predicted"]["wall_s"].get<double>(), 0) << run.dump(2);
    if (run["config"]["workers"] == 2) {
      EXPECT_GT(run["bytes_sent"].get<int64_t>(), 0);
    }
  }

  ASSERT_EQ(run_command({ringmaster_binary(), "bench", "report", runs}, &output), 0) << output;
  std::istringstream csv(read_bytes(runs + "/report.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << read_bytes(runs + "/report.csv");  // header, P = 1, P = 2
  EXPECT_EQ(lines[0].substr(0, 40), "mode,model,task,plan,context_parallel,th");
  EXPECT_NE(lines[1].find(",2048,1,1,"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(",2048,2,1,"), std::string::npos) << lines[2];
  EXPECT_NE(read_bytes(runs + "/report.md").find("| fit_atlas score | 2048 | 2 | 1 |"),
            std::string::npos)
      << read_bytes(runs + "/report.md");
  for (const char* png : {"scaling", "weak", "time_split", "memory", "predicted"}) {
    const std::string path = runs + "/" + png + ".png";
    EXPECT_TRUE(fs::exists(path) && fs::file_size(path) > 1000) << path << "\n" << output;
  }

  ASSERT_EQ(run_command(sweep, &output), 0) << output;
  EXPECT_NE(output.find("sweep: 0 run, 2 skipped (done), 0 failed"), std::string::npos) << output;
  // A run marked failed stays skipped, then runs again with --rerun-failed.
  const std::string p2 = runs + "/fit_atlas_score_t2048_w2_r0.json";
  nlohmann::json failed = nlohmann::json::parse(read_bytes(p2));
  failed["status"] = "failed";
  std::ofstream(p2) << failed.dump();
  ASSERT_EQ(run_command(sweep, &output), 0) << output;
  EXPECT_NE(output.find("sweep: 0 run, 2 skipped (done), 0 failed"), std::string::npos) << output;
  std::vector<std::string> rerun = sweep;
  rerun.push_back("--rerun-failed");
  ASSERT_EQ(run_command(rerun, &output), 0) << output;
  EXPECT_NE(output.find("sweep: 1 run, 1 skipped (done), 0 failed"), std::string::npos) << output;
  EXPECT_EQ(nlohmann::json::parse(read_bytes(p2))["status"], "ok");
}

// A hybrid sweep: worker counts the Ulysses degree does not divide are skipped, the others run
// with the degree, named in the run's id and its config.
TEST_F(CoverageEnv, BenchSweepHybrid) {
  if (!have_ucx()) GTEST_SKIP() << "two workers need UCX";
  TempDir dir;
  const std::string runs = dir.file("runs");
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "bench", "sweep", "--model", job_env("causal"),
                         "--workers", "1,2", "--tokens", "2k", "--context-parallel", "hybrid",
                         "--ulysses-degree", "2", "--out", runs},
                        &output),
            0)
      << output;
  EXPECT_NE(output.find("sweep: 1 run, 1 skipped (done), 0 failed"), std::string::npos) << output;
  const std::string id = "causal_embed_hybrid2_t2048_w2_r0";
  const nlohmann::json run = nlohmann::json::parse(read_bytes(runs + "/" + id + ".json"));
  EXPECT_EQ(run["status"], "ok") << run.dump(2);
  EXPECT_EQ(run["config"]["ulysses_degree"], 2) << run.dump(2);
  // The degree belongs to the hybrid, and only there.
  EXPECT_NE(run_command({ringmaster_binary(), "bench", "sweep", "--model", job_env("causal"),
                         "--ulysses-degree", "2", "--out", dir.file("bad")},
                        &output),
            0);
  EXPECT_NE(output.find("--ulysses-degree"), std::string::npos) << output;
}

// --- cluster-style launch: rank hints, a failing worker --------------------------------------

// A worker started as a launcher would, with exactly the rank variables in `env` set.
std::unique_ptr<Process> start_worker_with_env(const std::string& address,
                                               std::map<std::string, std::string> env) {
  for (const char* name : {"SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "RANK"}) env.emplace(name, "");
  env["RINGMASTER_TOKEN"] = kToken;
  auto process = Process::start({ringmaster_binary(), "worker", "--coordinator", address,
                                 "--abort-grace-ms", "2000", "--connect-timeout-ms", "10000"},
                                env);
  RM_CHECK(process.ok()) << process.status().to_string();
  return std::move(process).value();
}

// Three workers join one at a time: OMPI_COMM_WORLD_RANK=2 (with RANK=0, which Open MPI's
// variable outranks), then RANK=1, then none. Joining order alone would give 0, 1, 2.
TEST(RankHints, OpenMpiAndTorchrunVariablesPickTheRank) {
  if (!have_ucx()) GTEST_SKIP() << "three workers need UCX";
  TempDir dir;
  CheckJob job;
  job.tokens = 384;
  Coordinator coordinator = start_coordinator(kToken, 3, dir.file("out.npy"), job);
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  auto ompi =
      start_worker_with_env(coordinator.address, {{"OMPI_COMM_WORLD_RANK", "2"}, {"RANK", "0"}});
  ASSERT_TRUE(coordinator.process->wait_for_output("(rank hint 2); 1 of 3", milliseconds(20000)))
      << coordinator.process->output();
  auto torchrun = start_worker_with_env(coordinator.address, {{"RANK", "1"}});
  ASSERT_TRUE(coordinator.process->wait_for_output("(rank hint 1); 2 of 3", milliseconds(20000)))
      << coordinator.process->output();
  auto plain = start_worker_with_env(coordinator.address, {});
  const std::optional<int> code = coordinator.process->wait_for_exit(milliseconds(60000));
  ASSERT_TRUE(code.has_value()) << coordinator.process->output();
  EXPECT_EQ(*code, 0) << coordinator.process->output();
  const std::pair<Process*, int> expected[] = {
      {ompi.get(), 2}, {torchrun.get(), 1}, {plain.get(), 0}};
  for (const auto& [worker, rank] : expected) {
    EXPECT_EQ(worker->wait_for_exit(milliseconds(10000)), std::optional<int>(0))
        << worker->output();
    EXPECT_NE(worker->output().find("assigned rank " + std::to_string(rank) + " of 3"),
              std::string::npos)
        << worker->output();
  }
  const Status same = matches_reference(dir.file("out.npy"), job);
  EXPECT_TRUE(same.ok()) << same.to_string();
}

// A worker that fails (reports an error and stays up, not killed) under --max-restarts 1 with a
// spare: README's recovery says a failing worker costs one restart and a spare takes its rank.
// No test hook: the processes are started as a cluster script would, in different directories,
// with the model given as a relative path. In the failing worker's directory the weights are a
// FIFO, so its load blocks in open() until the spare has joined; the test then opens the FIFO
// (the load fails: "not a regular file") after renaming truncated weights over it, so every
// later load of that worker fails too.
TEST_F(CoverageEnv, FailingWorkerIsReplacedByASpare) {
  if (!have_ucx()) GTEST_SKIP() << "two workers need UCX";
  TempDir dir;
  const fs::path good = dir.path() / "good", bad = dir.path() / "bad";
  fs::create_directories(good);
  fs::create_directories(bad / "model");
  fs::copy(job_env("causal"), good / "model");
  fs::copy_file(job_env("in.fa"), good / "in.fa");
  fs::copy_file(good / "model/config.json", bad / "model/config.json");
  const fs::path fifo = bad / "model/weights.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::copy_file(good / "model/weights.safetensors", bad / "truncated");
  fs::resize_file(bad / "truncated", 1000);

  // The fault-free bytes: the same job through `ringmaster run`.
  std::string output;
  ASSERT_EQ(run_model_job((good / "model").string(), (good / "in.fa").string(), "score", 2,
                          dir.file("clean"), {"--plan", "zigzag", "--quiet"}, &output),
            0)
      << output;

  const std::map<std::string, std::string> env = {{"RINGMASTER_TOKEN", kToken},
                                                  {"SLURM_PROCID", ""},
                                                  {"OMPI_COMM_WORLD_RANK", ""},
                                                  {"RANK", ""}};
  auto in_dir = [&](const fs::path& cwd, std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", "-C", cwd.string(), ringmaster_binary()});
    auto process = Process::start(args, env);
    RM_CHECK(process.ok()) << process.status().to_string();
    return std::move(process).value();
  };
  const std::string dead_after = std::to_string(static_cast<int>(3000 * time_slack()));
  auto coordinator = in_dir(good, {"coordinator",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--workers",
                                   "2",
                                   "--model",
                                   "model",
                                   "--input",
                                   "in.fa",
                                   "--task",
                                   "score",
                                   "--plan",
                                   "zigzag",
                                   "--quiet",
                                   "--out",
                                   dir.file("out"),
                                   "--max-restarts",
                                   "1",
                                   "--spares",
                                   "1",
                                   "--heartbeat-ms",
                                   "200",
                                   "--dead-after-ms",
                                   dead_after});
  ASSERT_TRUE(coordinator->wait_for_output("listening on", milliseconds(10000)))
      << coordinator->output();
  const std::string address = listening_address(coordinator->output());
  const std::vector<std::string> worker = {
      "worker", "--coordinator",        address, "--abort-grace-ms",
      "2000",   "--connect-timeout-ms", "10000"};
  auto with_hint = [&](int rank) {
    std::vector<std::string> args = worker;
    args.insert(args.end(), {"--rank-hint", std::to_string(rank)});
    return args;
  };
  auto w0 = in_dir(good, with_hint(0));
  auto w1 = in_dir(bad, with_hint(1));
  ASSERT_TRUE(coordinator->wait_for_output("workers joined", milliseconds(20000)))
      << coordinator->output();
  auto spare = in_dir(good, worker);
  ASSERT_TRUE(coordinator->wait_for_output("as a spare", milliseconds(20000)))
      << coordinator->output();

  // Rank 1 waits in open() on the FIFO; there is no event for a FIFO reader arriving, so poll.
  int fd = -1;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(20000);
  while (fd < 0 && std::chrono::steady_clock::now() < deadline) {
    fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO until the reader is there
    if (fd < 0) std::this_thread::sleep_for(milliseconds(10));
  }
  fs::rename(bad / "truncated", fifo);
  if (fd >= 0) ::close(fd);
  ASSERT_TRUE(w1->wait_for_output("failed", milliseconds(20000))) << w1->output();

  const std::optional<int> code = coordinator->wait_for_exit(milliseconds(60000));
  ASSERT_TRUE(code.has_value()) << coordinator->output();
  const std::string log = coordinator->output();
  EXPECT_EQ(*code, 0) << log << "\n--- failing worker:\n" << w1->output();
  EXPECT_NE(log.find("restarting as attempt 1"), std::string::npos) << log;
  EXPECT_NE(log.find("taking over"), std::string::npos) << log;
  EXPECT_NE(spare->output().find("assigned rank 1 of 2"), std::string::npos) << spare->output();
  const std::string clean = read_bytes(dir.file("clean/scores.npy"));
  EXPECT_FALSE(clean.empty());
  EXPECT_TRUE(clean == read_bytes(dir.file("out/scores.npy")))
      << "output differs from the fault-free run's bytes";
}

}  // namespace
}  // namespace ringmaster::testing
