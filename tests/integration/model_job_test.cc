// `ringmaster run --model ... --input ...` with 1-4 worker processes: embeddings and scores equal
// the independent PyTorch model (tests/reference/model_ref.py) within MODEL.md's 1e-4 for every
// plan, records are independent of their neighbours, and a refused job writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comm/make_communicator.h"
#include "io/npy.h"
#include "tests/integration/process.h"
#include "tests/testing/close.h"

namespace ringmaster::testing {
namespace {

constexpr double kTolerance = 1e-4;  // MODEL.md: a whole model's hf and scores, fp32

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::vector<double> load(const std::string& path) { return load_npy(path); }

// What tests/integration/make_model_job_env.sh made (a ctest fixture, so the models and the
// PyTorch references are made once per run, not once per test process).
class ModelJobEnv {
 public:
  static ModelJobEnv& get() {
    static ModelJobEnv env;
    return env;
  }

  std::string causal_model() const { return file("causal"); }
  std::string bidirectional_model() const { return file("bidirectional"); }
  std::string input() const { return file("in.fa"); }
  std::string file(const std::string& name) const { return std::string(kDir) + "/" + name; }
  // The reference output `name` ("causal_score", ...).
  std::string reference(const std::string& name) const {
    return file("ref_" + name) +
           (name.find("score") != std::string::npos ? "/scores.npy" : "/embeddings.npy");
  }

 private:
  static constexpr const char* kDir = RINGMASTER_MODEL_JOB_ENV;
  ModelJobEnv() {
    EXPECT_TRUE(std::filesystem::exists(file("complete")))
        << kDir << " is incomplete: run the ModelJobEnv.Setup test first (ctest does)";
  }
};

struct JobCase {
  int workers;
  std::string plan;
  std::string task;
};

std::string case_name(const ::testing::TestParamInfo<JobCase>& info) {
  // append, not operator+: GCC 12's -Wrestrict misfires on the latter (GCC bug 105329).
  return std::string("P")
      .append(std::to_string(info.param.workers))
      .append("_")
      .append(info.param.plan)
      .append("_")
      .append(info.param.task);
}

// Names the case in gtest's listing instead of dumping its bytes.
void PrintTo(const JobCase& c, std::ostream* os) { *os << case_name({c, 0}); }

class ModelJob : public ::testing::TestWithParam<JobCase> {};

TEST_P(ModelJob, MatchesReference) {
  const JobCase& c = GetParam();
  if (c.workers > 1 && !have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  const std::string out = dir.file("out");
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "run", "--model", env.causal_model(), "--input",
                         env.input(), "--task", c.task, "--workers", std::to_string(c.workers),
                         "--plan", c.plan, "--out", out},
                        &output),
            0)
      << output;
  const bool score = c.task == "score";
  const std::vector<double> ours = load(out + (score ? "/scores.npy" : "/embeddings.npy"));
  const std::vector<double> ref = load(env.reference(score ? "causal_score" : "causal_embed"));
  EXPECT_TRUE(all_close(ours, ref, kTolerance));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out"});
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
}

// The sweep: P = 1..4 x plan x task. One case of each task (P2 zigzag embed, P3 striped score) is
// instantiated as Loopback and runs in every build; the rest as Matrix (label matrix: the Release
// stage only, not the sanitizer stages).
std::vector<JobCase> job_cases(bool representatives) {
  std::vector<JobCase> cases;
  for (int p = 1; p <= 4; ++p) {
    for (const char* plan : {"contiguous", "zigzag", "striped"}) {
      for (const char* task : {"embed", "score"}) {
        const JobCase c{p, plan, task};
        const bool representative = (p == 2 && c.plan == "zigzag" && c.task == "embed") ||
                                    (p == 3 && c.plan == "striped" && c.task == "score");
        if (representative == representatives) cases.push_back(c);
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Loopback, ModelJob, ::testing::ValuesIn(job_cases(true)), case_name);
INSTANTIATE_TEST_SUITE_P(Matrix, ModelJob, ::testing::ValuesIn(job_cases(false)), case_name);

TEST(ModelJobOutputs, BidirectionalAndPooledMatchReference) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  std::string output;
  ASSERT_EQ(
      run_command({ringmaster_binary(), "run", "--model", env.bidirectional_model(), "--input",
                   env.input(), "--workers", "3", "--plan", "zigzag", "--out", dir.file("bi")},
                  &output),
      0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("bi/embeddings.npy")),
                        load(env.reference("bidirectional_embed")), kTolerance));
  ASSERT_EQ(
      run_command({ringmaster_binary(), "run", "--model", env.causal_model(), "--input",
                   env.input(), "--workers", "2", "--pool", "mean", "--out", dir.file("mean")},
                  &output),
      0)
      << output;
  EXPECT_TRUE(all_close(load(dir.file("mean/embeddings.npy")), load(env.reference("causal_mean")),
                        kTolerance));
}

TEST(ModelJobOutputs, RecordAloneEqualsRecordAmongOthers) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  // Record 2 of the shared input (offset 940, 1500 bases), alone in its own file.
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "run", "--model", env.causal_model(), "--input",
                         env.file("rec2.fa"), "--workers", "3", "--task", "score", "--out",
                         dir.file("alone")},
                        &output),
            0)
      << output;
  const std::vector<double> alone = load(dir.file("alone/scores.npy"));
  const std::vector<double> ref = load(env.reference("causal_score"));
  ASSERT_EQ(alone.size(), 1500u);
  const std::vector<double> among(ref.begin() + 940, ref.begin() + 940 + 1500);
  EXPECT_TRUE(all_close(alone, among, kTolerance));
}

TEST(ModelJobOutputs, FilesAndSummary) {
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  std::string output;
  ASSERT_EQ(run_command(
                {ringmaster_binary(), "run", "--model", env.causal_model(), "--input", env.input(),
                 "--task", "score", "--workers", "1", "--quiet", "--out", dir.file("out")},
                &output),
            0)
      << output;
  std::ifstream records(dir.file("out/records.tsv"));
  std::string header, first;
  std::getline(records, header);
  std::getline(records, first);
  EXPECT_EQ(header, "name\toffset\tlength\tlog_likelihood_nats\tbits_per_token");
  // rec0's total and bits per base against the reference's 900 scores, not only their sign.
  std::istringstream fields(first);
  std::string name;
  int64_t offset = -1, length = -1;
  double nats = 0, bits = 0;
  fields >> name >> offset >> length >> nats >> bits;
  EXPECT_EQ(name, "rec0");
  EXPECT_EQ(offset, 0);
  ASSERT_EQ(length, 900);
  const std::vector<double> ref = load(env.reference("causal_score"));
  ASSERT_GE(ref.size(), 900u);
  double want = 0;
  for (size_t i = 0; i < 900; ++i) want += ref[i];
  EXPECT_TRUE(all_close(std::vector<double>{nats}, std::vector<double>{want}, kTolerance)) << first;
  EXPECT_TRUE(all_close(std::vector<double>{bits}, std::vector<double>{-want / std::log(2.0) / 900},
                        kTolerance))
      << first;
  std::ifstream summary_file(dir.file("out/summary.json"));
  const std::string summary((std::istreambuf_iterator<char>(summary_file)),
                            std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("\"tokens\": 2785"), std::string::npos) << summary;  // 2780 + 5 <bos>
  EXPECT_NE(summary.find("\"peak_rss_bytes\""), std::string::npos) << summary;
  EXPECT_EQ(output.find("progress"), std::string::npos) << "--quiet printed progress";
}

TEST(ModelJobOutputs, ScoreWithBidirectionalModelIsRefusedAndWritesNothing) {
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  std::string output;
  const int code =
      run_command({ringmaster_binary(), "run", "--model", env.bidirectional_model(), "--input",
                   env.input(), "--task", "score", "--workers", "1", "--out", dir.file("out")},
                  &output);
  EXPECT_EQ(code, 6);  // kExitBadInput
  EXPECT_NE(output.find("the score task needs a causal model"), std::string::npos) << output;
  EXPECT_TRUE(dir.entries().empty());
}

TEST(ModelJobOutputs, BadInputNamesFileLineAndColumnAndWritesNothing) {
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  write_text(dir.file("bad.fa"), ">ok\nACGT\nAC-T\n");
  std::string output;
  const int code =
      run_command({ringmaster_binary(), "run", "--model", env.causal_model(), "--input",
                   dir.file("bad.fa"), "--workers", "2", "--out", dir.file("out")},
                  &output);
  EXPECT_EQ(code, 6);  // kExitBadInput
  EXPECT_NE(output.find(dir.file("bad.fa") + ":3:3"), std::string::npos) << output;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"bad.fa"});
}

// --max-tokens: an input past the cap is refused before any worker runs, naming the record that
// passed it and the first base past the cap, and nothing is written.
TEST(ModelJobOutputs, MaxTokensRefusesALongerInputAndWritesNothing) {
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  write_text(dir.file("two.fa"), ">a\nACGTACGT\n>b\nACGT\n");
  std::string output;
  int code = run_command(
      {ringmaster_binary(), "run", "--model", env.causal_model(), "--input", dir.file("two.fa"),
       "--workers", "1", "--max-tokens", "11", "--out", dir.file("out")},
      &output);
  EXPECT_EQ(code, 6);  // kExitBadInput
  EXPECT_NE(output.find(dir.file("two.fa") +
                        ":4:4: record 2 ('b') passes the job's limit of 11 tokens (--max-tokens)"),
            std::string::npos)
      << output;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"two.fa"});
  code = run_command(
      {ringmaster_binary(), "run", "--model", env.causal_model(), "--input", dir.file("two.fa"),
       "--workers", "1", "--max-tokens", "12", "--quiet", "--out", dir.file("out")},
      &output);
  EXPECT_EQ(code, 0) << output;
}

// Negative control for ModelJob.MatchesReference: the same job on a copy of the causal model whose
// window block is one token wider (config.json only) fails the same comparison.
TEST(ModelJobOutputs, NegativeControlWindowOffByOneFailsTheComparison) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  ModelJobEnv& env = ModelJobEnv::get();
  TempDir dir;
  const std::string model = dir.file("model");
  std::filesystem::copy(env.causal_model(), model);
  std::ifstream in(model + "/config.json");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string window = "\"window\": 24";
  const size_t at = config.find(window);
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, window.size(), "\"window\": 25");
  write_text(model + "/config.json", config);
  std::string output;
  ASSERT_EQ(run_command({ringmaster_binary(), "run", "--model", model, "--input", env.input(),
                         "--task", "score", "--workers", "2", "--plan", "zigzag", "--quiet",
                         "--out", dir.file("out")},
                        &output),
            0)
      << output;
  const std::vector<double> got = load(dir.file("out/scores.npy"));
  const std::vector<double> want = load(env.reference("causal_score"));
  const Closeness error = closeness(got, want);
  std::printf("window 25 instead of 24: relative error %.3g\n", error.rel);
  EXPECT_FALSE(within(error, kTolerance)) << "the comparison did not notice";
}

}  // namespace
}  // namespace ringmaster::testing
