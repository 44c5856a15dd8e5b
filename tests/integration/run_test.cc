// `ringmaster run` with 1-4 worker processes over loopback: the gathered .npy equals the
// single-process reference for every plan and context parallelism, and the launcher leaves nothing
// behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

#include "comm/make_communicator.h"
#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

struct RunCase {
  int workers;
  CheckJob job;
};

std::string case_name(const ::testing::TestParamInfo<RunCase>& info) {
  const RunCase& c = info.param;
  std::string how = c.job.context_parallel;
  if (c.job.ulysses_degree > 0) how.append("_u").append(std::to_string(c.job.ulysses_degree));
  return "P" + std::to_string(c.workers) + "_" + c.job.plan + "_" + how + "_" +
         (c.job.causal ? "causal" : "bidirectional");
}

// Names the case in gtest's listing instead of dumping its bytes.
void PrintTo(const RunCase& c, std::ostream* os) { *os << case_name({c, 0}); }

class RingmasterRun : public ::testing::TestWithParam<RunCase> {};

TEST_P(RingmasterRun, MatchesReference) {
  const RunCase& c = GetParam();
  if (c.workers > 1 && !have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  std::vector<std::string> args = {ringmaster_binary(),       "run",   "--workers",
                                   std::to_string(c.workers), "--out", out};
  for (std::string& f : c.job.flags()) args.push_back(std::move(f));
  auto run = Process::start(args);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = (*run)->wait_for_exit(milliseconds(60000));
  ASSERT_TRUE(code.has_value()) << "still running after 60 s\n" << (*run)->output();
  ASSERT_EQ(*code, 0) << (*run)->output();
  const Status same = matches_reference(out, c.job);
  EXPECT_TRUE(same.ok()) << same.to_string();
  // The output and its summary alone: no partial file beside them.
  std::vector<std::string> entries = dir.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"out.npy", "out.summary.json"}));
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
  std::printf("[ timing ] %s: %.2f s\n", case_name({c, 0}).c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// The sweep: P = 1..4 x plan, bidirectional, Ulysses, hybrid. One case of each scenario (one
// worker, a ring of several, bidirectional, Ulysses, a 2 x 2 hybrid over zigzag) is instantiated
// as Loopback and runs in every build; the rest as Matrix (label matrix: the Release stage only,
// not the sanitizer stages).
bool representative(const RunCase& c) {
  if (c.job.context_parallel == "ulysses") return c.workers == 2;
  if (c.job.context_parallel == "hybrid") return c.job.plan == "zigzag";
  if (!c.job.causal) return true;
  return (c.workers == 1 && c.job.plan == "contiguous") ||
         (c.workers == 2 && c.job.plan == "zigzag");
}

std::vector<RunCase> run_cases(bool representatives) {
  std::vector<RunCase> cases;
  for (int p = 1; p <= 4; ++p) {
    for (const char* plan : {"contiguous", "zigzag", "striped"}) {
      CheckJob job;
      job.plan = plan;
      cases.push_back({p, job});
    }
  }
  CheckJob bidirectional;
  bidirectional.causal = false;
  bidirectional.plan = "contiguous";
  cases.push_back({3, bidirectional});
  for (int p : {2, 4}) {
    CheckJob ulysses;
    ulysses.context_parallel = "ulysses";
    ulysses.heads = 8;
    ulysses.kv_heads = 4;
    cases.push_back({p, ulysses});
  }
  // 2 Ulysses groups of 2 over every plan; U = P (one group) as the degenerate mesh.
  for (const char* plan : {"zigzag", "striped"}) {
    CheckJob hybrid;
    hybrid.context_parallel = "hybrid";
    hybrid.ulysses_degree = 2;
    hybrid.plan = plan;
    cases.push_back({4, hybrid});
  }
  CheckJob whole;
  whole.context_parallel = "hybrid";
  whole.ulysses_degree = 2;
  whole.plan = "contiguous";
  cases.push_back({2, whole});
  std::erase_if(cases, [&](const RunCase& c) { return representative(c) != representatives; });
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Loopback, RingmasterRun, ::testing::ValuesIn(run_cases(true)), case_name);
INSTANTIATE_TEST_SUITE_P(Matrix, RingmasterRun, ::testing::ValuesIn(run_cases(false)), case_name);

// Ctrl-C on the launcher stops the job: exit 130, no output, no process left.
TEST(RingmasterRunSignals, InterruptStopsEverything) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 32768;  // long enough to be interrupted mid-run
  std::vector<std::string> args = {ringmaster_binary(), "run", "--workers", "2", "--out", out,
                                   "--abort-grace-ms",  "2000"};
  for (std::string& f : job.flags()) args.push_back(std::move(f));
  auto run = Process::start(args);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  ASSERT_TRUE((*run)->wait_for_output("running the attention check", milliseconds(20000)))
      << (*run)->output();
  const auto start = std::chrono::steady_clock::now();
  (*run)->signal(SIGINT);
  const std::optional<int> code = (*run)->wait_for_exit(milliseconds(15000));
  ASSERT_TRUE(code.has_value()) << "launcher still running 15 s after SIGINT\n" << (*run)->output();
  EXPECT_EQ(*code, 130) << (*run)->output();
  const double stop_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(dir.entries().empty()) << "output or partial file left behind";
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
  std::printf("[ timing ] SIGINT to launcher exit: %.2f s\n", stop_s);
}

// The old name of --context-parallel is refused with the new one, before anything starts; so
// are job flags next to a handed-over spec on `ringmaster coordinator`.
TEST(RingmasterRunFlags, RenamedAndMixedFlagsAreUsageErrors) {
  TempDir dir;
  auto run = Process::start({ringmaster_binary(), "run", "--workers", "1", "--out",
                             dir.file("out.npy"), "--mixer", "ulysses"});
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  std::optional<int> code = (*run)->wait_for_exit(milliseconds(20000));
  ASSERT_TRUE(code.has_value()) << (*run)->output();
  EXPECT_EQ(*code, 2) << (*run)->output();
  EXPECT_NE((*run)->output().find("--mixer is now --context-parallel (--context-parallel ulysses)"),
            std::string::npos)
      << (*run)->output();
  auto coordinator = Process::start({ringmaster_binary(), "coordinator", "--job-spec-fd", "0",
                                     "--workers", "2", "--out", dir.file("out.npy")});
  ASSERT_TRUE(coordinator.ok()) << coordinator.status().to_string();
  code = (*coordinator)->wait_for_exit(milliseconds(20000));
  ASSERT_TRUE(code.has_value()) << (*coordinator)->output();
  EXPECT_EQ(*code, 2) << (*coordinator)->output();
  EXPECT_NE((*coordinator)->output().find("cannot be combined with --job-spec-fd"),
            std::string::npos)
      << (*coordinator)->output();
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace ringmaster::testing
