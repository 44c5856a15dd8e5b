// `ringmaster run --task generate` with 1-4 worker processes against the float64 reference
// (tests/reference/model_ref.py --task generate, which runs a full forward pass per step): for
// each mixer alone and a model of all five, every plan the model allows, greedy and sampled, the
// same tokens as the reference up to its first near-tie (MODEL.md "Tolerances") and the same
// log-likelihoods within 1e-4 relative; the same output run after run; a text prompt on a bytes
// model; refusals before anything runs; a worker killed mid-decode fails the job with nothing
// written, or, with --max-restarts and a spare, restarts it to the same tokens.
//
// The models, prompts and reference continuations come from the generate_env fixture
// (make_generate_env.sh), made once per ctest run.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

namespace fs = std::filesystem;

constexpr double kTolerance = 1e-4;  // MODEL.md: generate's log-likelihoods, relative
constexpr int kNewTokens = 24;       // make_generate_env.sh's --max-new-tokens for dna
constexpr int kNewBytes = 16;        // and for the bytes model
// The kill tests' decode: long enough that a worker is killed while it runs (every prompt, with
// --ignore-eos), short enough to run twice in the restart test.
constexpr int kLongDecode = 4000;
// make_generate_env.sh's two modes: greedy runs every record to its length (random weights draw
// <eos> early), sampled stops at <eos>.
const std::vector<std::string> kGreedy = {"--ignore-eos"};
const std::vector<std::string> kSampled = {"--temperature", "0.8", "--top-k", "3", "--seed", "7"};

std::string env_file(const std::string& name) {
  return std::string(RINGMASTER_GENERATE_ENV) + "/" + name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One record's continuation, ours (from the output files) or the reference's.
struct Continuation {
  std::string name;
  std::vector<int32_t> tokens;
  double log_likelihood = 0;
  std::string stop;       // "eos" or "length"
  int64_t tie_step = -1;  // the reference's first near-tie; -1: none
};

// Our output directory read back: generated.fa (or generated.txt) and records.tsv.
std::vector<Continuation> read_ours(const std::string& dir, bool bytes) {
  std::vector<Continuation> records;
  std::istringstream tsv(read_bytes(dir + "/records.tsv"));
  std::string line;
  std::getline(tsv, line);
  EXPECT_EQ(line, "name\tprompt_length\tgenerated\tstop\tlog_likelihood_nats");
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    Continuation c;
    int64_t prompt_length = 0, generated = 0;
    fields >> c.name >> prompt_length >> generated >> c.stop >> c.log_likelihood;
    c.tokens.resize(static_cast<size_t>(generated), -1);
    records.push_back(std::move(c));
  }
  if (bytes) {
    const std::string text = read_bytes(dir + "/generated.txt");
    EXPECT_EQ(records.size(), 1u);
    if (records.size() != 1 || text.size() != records[0].tokens.size()) {
      ADD_FAILURE() << "generated.txt holds " << text.size() << " bytes";
      return records;
    }
    for (size_t i = 0; i < text.size(); ++i) {
      records[0].tokens[i] = static_cast<unsigned char>(text[i]);
    }
    return records;
  }
  // generated.fa: ">name", then the bases, at most 80 a line.
  std::istringstream fasta(read_bytes(dir + "/generated.fa"));
  size_t record = 0, at = 0;
  bool started = false;
  while (std::getline(fasta, line)) {
    if (!line.empty() && line[0] == '>') {
      if (started) ++record;
      started = true;
      at = 0;
      if (record >= records.size() || line.substr(1) != records[record].name) {
        ADD_FAILURE() << "generated.fa header '" << line << "' out of order";
        return records;
      }
      continue;
    }
    EXPECT_LE(line.size(), 80u);
    for (const char base : line) {
      const size_t id = std::string("ACGTN").find(base);
      if (record >= records.size() || at >= records[record].tokens.size() ||
          id == std::string::npos) {
        ADD_FAILURE() << "generated.fa does not match records.tsv at record " << record;
        return records;
      }
      records[record].tokens[at++] = static_cast<int32_t>(id);
    }
  }
  return records;
}

std::vector<Continuation> read_reference(const std::string& name) {
  const nlohmann::json json = nlohmann::json::parse(read_bytes(env_file(name + "/generate.json")));
  std::vector<Continuation> records;
  for (const nlohmann::json& r : json.at("records")) {
    Continuation c;
    c.name = r.at("name").get<std::string>();
    c.tokens = r.at("tokens").get<std::vector<int32_t>>();
    c.log_likelihood = r.at("log_likelihood").get<double>();
    c.stop = r.at("stop").get<std::string>();
    if (!r.at("tie_step").is_null()) c.tie_step = r.at("tie_step").get<int64_t>();
    records.push_back(std::move(c));
  }
  return records;
}

// MODEL.md: the same tokens, except after a step where the reference's two largest masked logits
// are within 1e-4 of each other. tie_step is the first such step (model_ref.py), whose own token
// may already differ: tokens are compared before it, and neither the length, the stop nor the
// log-likelihood of such a record is.
::testing::AssertionResult matches(const std::vector<Continuation>& ours,
                                   const std::vector<Continuation>& ref) {
  if (ours.size() != ref.size()) {
    return ::testing::AssertionFailure() << ours.size() << " records, reference " << ref.size();
  }
  for (size_t r = 0; r < ref.size(); ++r) {
    const Continuation& a = ours[r];
    const Continuation& b = ref[r];
    if (a.name != b.name) {
      return ::testing::AssertionFailure() << "record " << r << ": " << a.name << " vs " << b.name;
    }
    const bool tie = b.tie_step >= 0;
    const size_t compared = tie ? static_cast<size_t>(b.tie_step) : b.tokens.size();
    for (size_t i = 0; i < compared && i < b.tokens.size(); ++i) {
      if (i >= a.tokens.size() || a.tokens[i] != b.tokens[i]) {
        return ::testing::AssertionFailure()
               << b.name << ": step " << i << " gave "
               << (i < a.tokens.size() ? std::to_string(a.tokens[i]) : "nothing")
               << ", the reference " << b.tokens[i] << (tie ? " (before its tie)" : "");
      }
    }
    if (tie) continue;
    if (a.tokens.size() != b.tokens.size() || a.stop != b.stop) {
      return ::testing::AssertionFailure()
             << b.name << ": " << a.tokens.size() << " tokens (" << a.stop << "), the reference "
             << b.tokens.size() << " (" << b.stop << ")";
    }
    const double diff = std::fabs(a.log_likelihood - b.log_likelihood);
    if (!std::isfinite(a.log_likelihood) || !(diff <= kTolerance * std::fabs(b.log_likelihood))) {
      return ::testing::AssertionFailure()
             << b.name << ": log-likelihood " << a.log_likelihood << ", the reference "
             << b.log_likelihood << " (relative error " << diff / std::fabs(b.log_likelihood)
             << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> generate_args(const std::string& model, const std::string& input,
                                       int workers, const std::string& out, int new_tokens,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {ringmaster_binary(),
                                   "run",
                                   "--model",
                                   env_file(model),
                                   "--input",
                                   env_file(input),
                                   "--task",
                                   "generate",
                                   "--max-new-tokens",
                                   std::to_string(new_tokens),
                                   "--workers",
                                   std::to_string(workers),
                                   "--out",
                                   out};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class GenerateJob : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(env_file("complete")))
        << RINGMASTER_GENERATE_ENV << " is incomplete: run GenerateEnv.Setup (ctest does)";
  }
};

struct GenerateCase {
  std::string model;  // a directory of make_generate_env.sh
  int workers;
  std::string plan;
  bool sampled;
};

std::string case_name(const ::testing::TestParamInfo<GenerateCase>& info) {
  // append, not operator+: GCC 12's -Wrestrict misfires on the latter (GCC bug 105329).
  return std::string(info.param.model)
      .append("_P")
      .append(std::to_string(info.param.workers))
      .append("_")
      .append(info.param.plan)
      .append(info.param.sampled ? "_sampled" : "_greedy");
}

void PrintTo(const GenerateCase& c, std::ostream* os) { *os << case_name({c, 0}); }

class Generate : public ::testing::WithParamInterface<GenerateCase>, public GenerateJob {};

TEST_P(Generate, MatchesReference) {
  const GenerateCase& c = GetParam();
  if (c.workers > 1 && !have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  const std::string out = dir.file("out");
  std::vector<std::string> extra = {"--plan", c.plan};
  const std::vector<std::string>& mode = c.sampled ? kSampled : kGreedy;
  extra.insert(extra.end(), mode.begin(), mode.end());
  std::string output;
  ASSERT_EQ(
      run_command(generate_args(c.model, "in.fa", c.workers, out, kNewTokens, extra), &output), 0)
      << output;
  EXPECT_TRUE(matches(read_ours(out, /*bytes=*/false),
                      read_reference("ref_" + c.model + (c.sampled ? "_sampled" : "_greedy"))));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out"});
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
}

// The sweep: each model x P = 1..4 x the plans it allows (one plan at P = 1, where they are the
// same cut; atlas cannot run striped) x greedy and sampled. A few representatives run in every
// build (Loopback); the rest carry the label matrix (the Release stage only).
std::vector<GenerateCase> generate_cases(bool representatives) {
  std::vector<GenerateCase> cases;
  for (const char* model : {"attention", "window", "local", "fit", "atlas", "all"}) {
    const bool atlas = std::string(model) == "atlas" || std::string(model) == "all";
    for (int p = 1; p <= 4; ++p) {
      for (const char* plan : {"contiguous", "zigzag", "striped"}) {
        if (p == 1 && std::string(plan) != "contiguous") continue;
        if (atlas && std::string(plan) == "striped") continue;
        for (const bool sampled : {false, true}) {
          const GenerateCase c{model, p, plan, sampled};
          const bool representative =
              c.model == "all" && ((p == 1 && !sampled) || (p == 2 && c.plan == "zigzag") ||
                                   (p == 3 && c.plan == "contiguous"));
          if (representative == representatives) cases.push_back(c);
        }
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Loopback, Generate, ::testing::ValuesIn(generate_cases(true)), case_name);
INSTANTIATE_TEST_SUITE_P(Matrix, Generate, ::testing::ValuesIn(generate_cases(false)), case_name);

// A text prompt on a bytes model: generated.txt holds the continuation's bytes.
TEST_F(GenerateJob, TextOnABytesModel) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  for (const bool sampled : {false, true}) {
    TempDir dir;
    const std::string out = dir.file("out");
    const std::vector<std::string> extra = sampled ? kSampled : kGreedy;
    std::string output;
    ASSERT_EQ(run_command(generate_args("bytes", "text.txt", 2, out, kNewBytes, extra), &output), 0)
        << output;
    EXPECT_TRUE(
        matches(read_ours(out, /*bytes=*/true),
                read_reference(std::string("ref_bytes_") + (sampled ? "sampled" : "greedy"))));
    EXPECT_FALSE(fs::exists(out + "/generated.fa"));
  }
}

// Same seed, same output, run after run: the files are byte for byte the same, the timings in
// summary.json aside.
TEST_F(GenerateJob, SameSeedSameOutput) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  for (const int workers : {2, 3}) {
    TempDir dir;
    for (const char* out : {"a", "b"}) {
      std::string output;
      ASSERT_EQ(
          run_command(generate_args("all", "in.fa", workers, dir.file(out), kNewTokens, kSampled),
                      &output),
          0)
          << output;
    }
    for (const char* file : {"generated.fa", "records.tsv"}) {
      EXPECT_EQ(read_bytes(dir.file(std::string("a/") + file)),
                read_bytes(dir.file(std::string("b/") + file)))
          << file << " differs between two runs on " << workers << " workers";
    }
    const nlohmann::json summary = nlohmann::json::parse(read_bytes(dir.file("a/summary.json")));
    EXPECT_EQ(summary.at("task"), "generate");
    for (const char* field : {"prefill_s", "decode_s", "decode_tokens_per_s", "generated_tokens"}) {
      EXPECT_TRUE(summary.contains(field)) << field;
    }
  }
}

// Refused before anything runs, with nothing written: a bidirectional model (once the
// coordinator has read its config.json: exit 6, bad input) and bad flags (exit 2).
TEST_F(GenerateJob, RefusalsWriteNothing) {
  TempDir dir;
  const std::string out = dir.file("out");
  std::string output;
  EXPECT_EQ(run_command(generate_args("bidirectional", "in.fa", 1, out, kNewTokens), &output), 6);
  EXPECT_NE(output.find(env_file("bidirectional") + "/config.json: the generate task needs a "
                                                    "causal model"),
            std::string::npos)
      << output;
  struct Bad {
    std::vector<std::string> extra;
    int new_tokens;
    std::string words;
  };
  for (const Bad& bad :
       {Bad{{}, 0, "needs --max-new-tokens"}, Bad{{"--temperature", "-0.5"}, 4, "--temperature"},
        Bad{{"--top-k", "-1"}, 4, "--top-k"}, Bad{{"--pool", "mean"}, 4, "--pool"}}) {
    EXPECT_EQ(
        run_command(generate_args("all", "in.fa", 1, out, bad.new_tokens, bad.extra), &output), 2)
        << bad.words;
    EXPECT_NE(output.find(bad.words), std::string::npos) << output;
  }
  EXPECT_EQ(run_command({ringmaster_binary(), "run", "--model", env_file("all"), "--input",
                         env_file("in.fa"), "--task", "score", "--seed", "3", "--workers", "1",
                         "--out", out},
                        &output),
            2)
      << output;
  EXPECT_TRUE(dir.entries().empty());
}

// The pid of a worker that holds a rank (not a spare), from the coordinator's log line
// "registered worker HOST pid PID from ADDRESS (rank hint H); N of P workers".
pid_t ranked_worker_pid(const std::string& output) {
  // Parsed by hand: <regex> trips GCC 12's -Wmaybe-uninitialized in the ASan build.
  const std::string head = "registered worker ", pid_key = " pid ", hint = " (rank hint ";
  for (size_t at = output.find(head); at != std::string::npos; at = output.find(head, at + 1)) {
    const std::string line = output.substr(at, output.find('\n', at) - at);
    const size_t pid_at = line.find(pid_key), hint_at = line.find(hint);
    if (pid_at == std::string::npos || hint_at == std::string::npos ||
        line.find(");", hint_at) == std::string::npos) {
      continue;
    }
    const size_t digits = pid_at + pid_key.size();
    size_t end = digits;
    while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) ++end;
    if (end > digits) return static_cast<pid_t>(std::stol(line.substr(digits, end - digits)));
  }
  return -1;
}

// A long decode (kLongDecode tokens, --ignore-eos) on 2 workers; kills a ranked worker once the
// progress line shows decoding. Returns the run's exit code.
int kill_mid_decode(const std::string& out, std::vector<std::string> extra, std::string* output) {
  std::vector<std::string> args =
      generate_args("all", "in.fa", 2, out, kLongDecode, {"--ignore-eos"});
  args.insert(args.end(), extra.begin(), extra.end());
  auto run = Process::start(args);
  if (!run.ok()) {
    ADD_FAILURE() << run.status().to_string();
    return -1;
  }
  EXPECT_TRUE((*run)->wait_for_output("decode step", slack(milliseconds(60000))))
      << (*run)->output();
  const pid_t victim = ranked_worker_pid((*run)->output());
  EXPECT_GT(victim, 0) << (*run)->output();
  if (victim > 0) ::kill(victim, SIGKILL);
  const std::optional<int> code = (*run)->wait_for_exit(slack(milliseconds(120000)));
  *output = (*run)->output();
  return code.value_or(-1);
}

TEST_F(GenerateJob, WorkerKilledMidDecodeFailsWithNothingWritten) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  std::string output;
  const int code = kill_mid_decode(dir.file("out"), {}, &output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("lost"), std::string::npos) << output;
  EXPECT_TRUE(dir.entries().empty()) << output;
  EXPECT_TRUE(wait_until_gone(dir.file("out"), milliseconds(5000)).empty());
}

// With a restart and a spare, the whole job runs again and gives the tokens of a fault-free run.
TEST_F(GenerateJob, WorkerKilledMidDecodeRestartsToTheSameTokens) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  TempDir dir;
  std::string output;
  ASSERT_EQ(
      kill_mid_decode(dir.file("restarted"), {"--max-restarts", "1", "--spares", "1"}, &output), 0)
      << output;
  EXPECT_NE(output.find("attempt 1 running"), std::string::npos) << output;
  ASSERT_EQ(run_command(
                generate_args("all", "in.fa", 2, dir.file("clean"), kLongDecode, {"--ignore-eos"}),
                &output),
            0)
      << output;
  EXPECT_EQ(read_bytes(dir.file("restarted/generated.fa")),
            read_bytes(dir.file("clean/generated.fa")));
}

}  // namespace
}  // namespace ringmaster::testing
