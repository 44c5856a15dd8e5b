// RELIABILITY.md R4 between real processes: a worker that heartbeats but never sends its K/V
// blocks (RINGMASTER_TESTING_SILENT_RANK, comm/faulty_comm.h) fails the job at the per-step
// deadline. The coordinator's error line names the ring step and the silent rank, the launcher
// exits with the timeout code, nothing is written and no process is left. Knobs: step deadline
// 500 ms, abort grace 2 s; several runs, with median and max detection time in the log.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

constexpr int kWorkers = 3;
constexpr int kSilentRank = 1;
constexpr int kStepTimeoutMs = 500;
constexpr int kAbortGraceMs = 2000;

// The first line of `text` containing `needle`, or "".
std::string line_with(const std::string& text, const std::string& needle) {
  const size_t at = text.find(needle);
  if (at == std::string::npos) return "";
  const size_t begin = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
  return text.substr(begin, text.find('\n', at) - begin);
}

struct SilentRun {
  double detect_s = 0;  // every rank running its shard -> the coordinator's error line
  double exit_s = 0;    // every rank running its shard -> the launcher's exit
};

// One `ringmaster run` with rank 1 silent; gtest failures say what went wrong.
SilentRun run_with_silent_rank() {
  SilentRun timing;
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 3072;  // a short step 0, so the deadline dominates
  std::vector<std::string> args = {ringmaster_binary(),
                                   "run",
                                   "--workers",
                                   std::to_string(kWorkers),
                                   "--out",
                                   out,
                                   "--step-timeout-ms",
                                   std::to_string(kStepTimeoutMs),
                                   "--abort-grace-ms",
                                   std::to_string(kAbortGraceMs)};
  for (std::string& f : job.flags()) args.push_back(std::move(f));
  auto run =
      Process::start(args, {{"RINGMASTER_TESTING_SILENT_RANK", std::to_string(kSilentRank)}});
  if (!run.ok()) {
    ADD_FAILURE() << run.status().to_string();
    return timing;
  }
  Process& launcher = **run;
  const double slack = time_slack();
  const auto start_limit = milliseconds(static_cast<int64_t>(20000 * slack));
  for (int r = 0; r < kWorkers; ++r) {
    const std::string running = "rank " + std::to_string(r) + " of " + std::to_string(kWorkers) +
                                ": running the attention check";
    if (!launcher.wait_for_output(running, start_limit)) {
      ADD_FAILURE() << "rank " << r << " never started\n" << launcher.output();
      return timing;
    }
  }
  const auto running_at = std::chrono::steady_clock::now();
  const bool reported = launcher.wait_for_output("failed: ring step", milliseconds(10000));
  timing.detect_s = seconds_since(running_at);
  const std::optional<int> code = launcher.wait_for_exit(milliseconds(15000));
  timing.exit_s = seconds_since(running_at);
  const std::string log = launcher.output();
  EXPECT_TRUE(reported) << log;
  EXPECT_TRUE(code.has_value()) << "launcher still running\n" << log;
  EXPECT_EQ(code, std::optional<int>(5)) << log;  // kExitTimeout: a step passed its deadline

  // The peer of the silent rank (rank 2 receives from rank 1) names the step and the rank.
  const std::string error = line_with(log, "failed: ring step");
  EXPECT_NE(error.find("ring step 0 receive from rank " + std::to_string(kSilentRank)),
            std::string::npos)
      << error << "\n"
      << log;
  EXPECT_NE(error.find("rank 2 ("), std::string::npos) << error;  // the reporter, named
  // The verdict (the launcher's last line) is that first report, not one of its knock-on timeouts
  // (rank 0 then times out waiting on rank 2).
  const std::string verdict = line_with(log, "ringmaster: ");
  EXPECT_NE(verdict.find("ring step 0 receive from rank " + std::to_string(kSilentRank)),
            std::string::npos)
      << verdict << "\n"
      << log;

  // Detection: the step deadline, plus the coordinator's attribution window (250 ms), plus
  // scheduling on 2 shared cores. Exit: the deadline, the abort grace and a margin.
  EXPECT_LT(timing.detect_s, (kStepTimeoutMs + 250 + 1000) / 1000.0 * slack) << log;
  EXPECT_LT(timing.exit_s, (kStepTimeoutMs + kAbortGraceMs + 1500) / 1000.0 * slack) << log;
  EXPECT_TRUE(dir.entries().empty()) << "the failed job left a file\n" << log;
  const std::string children = std::string("--parent-pid") + '\0' + std::to_string(launcher.pid());
  EXPECT_TRUE(wait_until_gone(children, milliseconds(5000)).empty()) << "processes left behind";
  EXPECT_TRUE(wait_until_gone(out, milliseconds(1000)).empty()) << "processes left behind";
  return timing;
}

TEST(StepDeadline, SilentPeerIsNamedWithItsStep) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  const int runs = time_slack() > 1.0 ? 3 : 5;
  std::vector<double> detect, exit;
  for (int i = 0; i < runs; ++i) {
    SCOPED_TRACE("run " + std::to_string(i));
    const SilentRun timing = run_with_silent_rank();
    if (::testing::Test::HasFailure()) return;
    detect.push_back(timing.detect_s);
    exit.push_back(timing.exit_s);
  }
  std::sort(detect.begin(), detect.end());
  std::sort(exit.begin(), exit.end());
  std::printf(
      "[ timing ] silent rank, step deadline %d ms, %d runs: detection median %.3f s, max %.3f "
      "s; launcher exit median %.3f s, max %.3f s\n",
      kStepTimeoutMs, runs, detect[detect.size() / 2], detect.back(), exit[exit.size() / 2],
      exit.back());
}

}  // namespace
}  // namespace ringmaster::testing
