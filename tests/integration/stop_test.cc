// Issue 14 §4 between real processes: a failed job stops everything within a second. A 3-worker
// `ringmaster run` of a window/local model over 2M random bases (tens of seconds of compute on 2
// cores when left alone) is failed mid-compute, by `kill -9` of one worker or by SIGINT to the
// launcher. The launcher must exit with the documented code (3: a worker failed; 130: interrupted)
// within 2 s, with the default abort grace of 10 s: the survivors' shard threads stop at their next
// tile or poll (core/cancel.h) instead of computing on until the grace runs out. Nothing is
// written and no process is left. The same kill in a ring attention check job, where the
// survivors drop transfers to each other mid-message. Several runs each; median and max go to
// the log.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

constexpr int kWorkers = 3;
constexpr int64_t kBases = 2'000'000;
constexpr double kStopBoundS = 2.0;

// The model and the input, made once for the binary.
struct StopEnv {
  TempDir dir;
  std::string model = dir.file("model");
  std::string fasta = dir.file("big.fa");
  bool ok = false;
};

// Writes the model and the input into `e`; false if something failed.
bool make_stop_env(StopEnv& e) {
  // Window and local blocks: no global attention, so the compute is long but every rank runs on
  // its own after the halo, the case where only cancellation stops a survivor.
  const std::string config = e.dir.file("config.json");
  std::ofstream(config) << R"({"format": "ringmaster-model/1", "vocab": "dna", "d_model": 32,
 "n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "mlp_hidden": 64, "norm_eps": 1e-5,
 "rope_theta": 10000.0, "causal": true,
 "blocks": [{"mixer": "window", "window": 128}, {"mixer": "local", "group": 64},
            {"mixer": "window", "window": 128}, {"mixer": "local", "group": 64}]})";
  auto init = Process::start({ringmaster_binary(), "--log-level", "warn", "init", "--config",
                              config, "--seed", "3", "--out", e.model});
  if (!init.ok() || (*init)->wait_for_exit(milliseconds(60000)) != std::optional<int>(0)) {
    return false;
  }
  std::mt19937 rng(14);
  std::ofstream fa(e.fasta);
  fa << ">chr_random 2M uniform bases\n";
  std::string line;
  for (int64_t done = 0; done < kBases; done += 80) {
    line.resize(static_cast<size_t>(std::min<int64_t>(80, kBases - done)));
    for (char& c : line) c = "ACGT"[rng() % 4];
    fa << line << '\n';
  }
  return static_cast<bool>(fa.flush());
}

// Made on first use; the directory goes when the test binary exits.
const StopEnv& stop_env() {
  static StopEnv env;
  static const bool made = make_stop_env(env);
  env.ok = made;
  return env;
}

// The launcher's children carry --parent-pid LAUNCHER; worker i also --rank-hint i.
std::string children_of(pid_t launcher) {
  return std::string("--parent-pid") + '\0' + std::to_string(launcher);
}
std::string worker_of(pid_t launcher, int rank) {
  const std::string r = std::to_string(rank);
  return std::string("--rank-hint") + '\0' + r + '\0' + "--local-rank" + '\0' + r + '\0' +
         children_of(launcher) + '\0';
}

enum class Fault { kKillWorker, kInterruptLauncher };
// The model job above, or an attention check job over the ring (a transfer in flight between the
// survivors at almost any moment, so their data plane is torn down mid-message).
enum class Job { kModel, kRingCheck };

// One job failed mid-compute; returns seconds from the fault to the launcher's exit (gtest
// failures say what went wrong; -1 when the run could not be timed).
double stop_time(Job job, Fault fault, milliseconds into_compute) {
  const StopEnv& env = stop_env();
  if (!env.ok) {
    ADD_FAILURE() << "could not make the model or the input";
    return -1;
  }
  TempDir dir;
  const std::string out = dir.file("out");
  std::vector<std::string> args = {ringmaster_binary(),      "run",   "--workers",
                                   std::to_string(kWorkers), "--out", out};
  if (job == Job::kModel) {
    args.insert(args.end(), {"--model", env.model, "--input", env.fasta});
  } else {
    CheckJob check;
    check.tokens = 65536;  // about 10 s of ring steps on 2 cores
    for (std::string& f : check.flags()) args.push_back(std::move(f));
  }
  auto run = Process::start(args);
  if (!run.ok()) {
    ADD_FAILURE() << run.status().to_string();
    return -1;
  }
  Process& launcher = **run;
  for (int r = 0; r < kWorkers; ++r) {
    const std::string running =
        "rank " + std::to_string(r) + " of " + std::to_string(kWorkers) +
        (job == Job::kModel ? ": running 4 blocks" : ": running the attention check");
    if (!launcher.wait_for_output(running, slack(milliseconds(60000)))) {
      ADD_FAILURE() << "rank " << r << " never started\n" << launcher.output();
      return -1;
    }
  }
  // Deliberately a wall-clock delay: the fault should land at different points of the compute
  // (a ring step's transfers are in flight only part of the time).
  std::this_thread::sleep_for(into_compute);
  const auto fault_at = std::chrono::steady_clock::now();
  if (fault == Fault::kKillWorker) {
    const std::vector<pid_t> victim = processes_mentioning(worker_of(launcher.pid(), 1));
    if (victim.size() != 1) {
      ADD_FAILURE() << victim.size() << " processes look like worker 1\n" << launcher.output();
      return -1;
    }
    ::kill(victim[0], SIGKILL);
  } else {
    launcher.signal(SIGINT);
  }
  // Not the 2 s bound: a launcher still running at 2 s should say how long it took in the end.
  const std::optional<int> code = launcher.wait_for_exit(slack(milliseconds(30000)));
  const double stop_s = seconds_since(fault_at);
  const std::string log = launcher.output();
  EXPECT_TRUE(code.has_value()) << "launcher still running 30 s after the fault\n" << log;
  EXPECT_EQ(code, std::optional<int>(fault == Fault::kKillWorker ? 3 : 130)) << log;
  EXPECT_LT(stop_s, kStopBoundS * time_slack()) << log;
  // Every shard thread stopped: none was left for the process exit to abandon, and no survivor
  // died tearing down its data plane (UCX asserts on requests left behind).
  EXPECT_EQ(log.find("did not stop within"), std::string::npos) << log;
  EXPECT_EQ(log.find("ended: signal Aborted"), std::string::npos) << log;
  if (fault == Fault::kKillWorker) {
    // The same clear error as before: the lost rank, named.
    EXPECT_NE(log.find("ringmaster: unavailable: rank 1"), std::string::npos) << log;
  }
  EXPECT_TRUE(dir.entries().empty()) << "the failed job left a file\n" << log;
  EXPECT_TRUE(wait_until_gone(children_of(launcher.pid()), milliseconds(1000)).empty())
      << "processes left behind";
  return stop_s;
}

void report(const char* what, std::vector<double> times) {
  std::sort(times.begin(), times.end());
  std::printf("[ timing ] %s to launcher exit, %zu runs: median %.3f s, max %.3f s\n", what,
              times.size(), times[times.size() / 2], times.back());
}

void run_several(Job job, Fault fault, const char* what, int runs = 3) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    SCOPED_TRACE("run " + std::to_string(i));
    const double s = stop_time(job, fault, milliseconds(300 * i));
    if (::testing::Test::HasFailure()) return;
    times.push_back(s);
  }
  report(what, times);
}

TEST(FailedJobStops, KilledWorkerStopsEveryoneWithinTwoSeconds) {
  run_several(Job::kModel, Fault::kKillWorker, "model job: kill -9 of worker 1");
}

TEST(FailedJobStops, InterruptMidComputeStopsEveryoneWithinTwoSeconds) {
  run_several(Job::kModel, Fault::kInterruptLauncher, "model job: SIGINT to ringmaster run");
}

TEST(FailedJobStops, KilledWorkerMidRingStepStopsEveryoneWithinTwoSeconds) {
  run_several(Job::kRingCheck, Fault::kKillWorker, "ring check job: kill -9 of worker 1", 5);
}

}  // namespace
}  // namespace ringmaster::testing
