// Opt-in recovery (--max-restarts K --spares S), between real processes over UCX: a worker killed
// or frozen mid-job is replaced by a spare and the job completes with output byte-identical to a
// fault-free run; the frozen worker's incarnation is fenced (it exits when it wakes); with no
// restart left the job fails as without recovery.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

using std::chrono::milliseconds;

constexpr char kToken[] = "d652caa737ff879e32d8bab3c218d5a6";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Seconds of work on 3 workers, so a fault lands mid-job. A survivor's shard thread of the failed
// attempt is cancelled when the restart reaches it (core/cancel.h), so it does not compete with
// the next attempt for the cores.
CheckJob long_job() {
  CheckJob job;
  job.tokens = 32768;
  return job;
}

struct Job {
  Coordinator coordinator;
  std::vector<std::unique_ptr<Process>> workers;  // ranks 0..2 by hint
  std::unique_ptr<Process> spare;
};

Job start_job(const std::string& out, const std::vector<std::string>& extra) {
  Job job;
  // Dead after 3 s, not the tests' usual 1 s: a restart runs 3 workers, a spare and the failed
  // attempt's waiting threads on 2 cores, and a starved heartbeat must not look like a death.
  std::vector<std::string> flags = {
      "--step-timeout-ms", std::to_string(static_cast<int>(15000 * time_slack())),
      "--dead-after-ms", std::to_string(static_cast<int>(3000 * time_slack()))};
  flags.insert(flags.end(), extra.begin(), extra.end());
  job.coordinator = start_coordinator(kToken, 3, out, long_job(), flags);
  if (job.coordinator.address.empty()) return job;
  for (int r = 0; r < 3; ++r) {
    job.workers.push_back(start_worker(job.coordinator.address, kToken, r));
  }
  return job;
}

// A job with one restart and one spare; the spare joins once the three have their ranks, so it
// is the one left standing by.
void start_job_with_spare(const std::string& out, Job& job) {
  job = start_job(out, {"--max-restarts", "1", "--spares", "1"});
  ASSERT_FALSE(job.coordinator.address.empty()) << job.coordinator.process->output();
  ASSERT_TRUE(job.coordinator.process->wait_for_output("workers joined", milliseconds(20000)))
      << job.coordinator.process->output();
  job.spare = start_worker(job.coordinator.address, kToken);
  ASSERT_TRUE(job.coordinator.process->wait_for_output("as a spare", milliseconds(20000)))
      << job.coordinator.process->output();
}

// The fault-free output of long_job(), once per test binary run.
const std::string& fault_free_output() {
  static const std::string bytes = [] {
    TempDir dir;
    const std::string out = dir.file("clean.npy");
    Job job = start_job(out, {});
    const std::optional<int> code = job.coordinator.process->wait_for_exit(milliseconds(120000));
    if (!code || *code != 0) return std::string();
    return read_bytes(out);
  }();
  return bytes;
}

void expect_restarted_output(Job& job, const std::string& out, const CheckJob& spec) {
  const std::optional<int> code = job.coordinator.process->wait_for_exit(milliseconds(120000));
  ASSERT_TRUE(code.has_value()) << job.coordinator.process->output();
  ASSERT_EQ(*code, 0) << job.coordinator.process->output();
  const std::string log = job.coordinator.process->output();
  EXPECT_NE(log.find("restarting as attempt 1"), std::string::npos) << log;
  EXPECT_NE(log.find("taking over"), std::string::npos) << log;
  const Status exact = matches_reference(out, spec);
  EXPECT_TRUE(exact.ok()) << exact.to_string();
  const std::string& clean = fault_free_output();
  ASSERT_FALSE(clean.empty()) << "the fault-free run failed";
  EXPECT_TRUE(read_bytes(out) == clean) << "output differs from the fault-free run's bytes";
}

TEST(Recovery, KilledWorkerIsReplacedByASpare) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  Job job;
  ASSERT_NO_FATAL_FAILURE(start_job_with_spare(out, job));
  Process& spare = *job.spare;
  Process& victim = *job.workers[1];
  ASSERT_TRUE(victim.wait_for_output("running the attention check", milliseconds(20000)))
      << victim.output() << job.coordinator.process->output();
  const auto killed_at = std::chrono::steady_clock::now();
  victim.signal(SIGKILL);
  ASSERT_TRUE(job.coordinator.process->wait_for_output("attempt 1 running", milliseconds(20000)))
      << job.coordinator.process->output();
  std::printf("[ timing ] SIGKILL to the restarted attempt running: %.3f s\n",
              seconds_since(killed_at));
  expect_restarted_output(job, out, long_job());
  EXPECT_NE(spare.output().find("assigned rank 1"), std::string::npos) << spare.output();
  for (int r : {0, 2}) {
    const std::optional<int> code = job.workers[r]->wait_for_exit(milliseconds(10000));
    ASSERT_TRUE(code.has_value()) << job.workers[r]->output();
    EXPECT_EQ(*code, 0) << job.workers[r]->output();
  }
}

// A frozen worker is taken for dead after the dead deadline, its connection closed; woken after
// the job, it finds its session gone and exits non-zero, its late results never counted.
TEST(Recovery, FrozenWorkerIsFencedAndReplaced) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  Job job;
  ASSERT_NO_FATAL_FAILURE(start_job_with_spare(out, job));
  Process& victim = *job.workers[2];
  ASSERT_TRUE(victim.wait_for_output("running the attention check", milliseconds(20000)))
      << victim.output() << job.coordinator.process->output();
  victim.signal(SIGSTOP);
  expect_restarted_output(job, out, long_job());
  EXPECT_NE(job.coordinator.process->output().find("missed heartbeats"), std::string::npos);
  victim.signal(SIGCONT);
  const std::optional<int> code = victim.wait_for_exit(milliseconds(10000));
  ASSERT_TRUE(code.has_value()) << victim.output();
  EXPECT_NE(*code, 0) << victim.output();
}

// With its one restart spent, a second loss fails the job as fail-stop does: exit 3, no file.
TEST(Recovery, NoRestartLeftFailsTheJob) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  Job job;
  ASSERT_NO_FATAL_FAILURE(start_job_with_spare(out, job));
  Process& spare = *job.spare;
  ASSERT_TRUE(job.workers[0]->wait_for_output("running the attention check", milliseconds(20000)))
      << job.coordinator.process->output();
  job.workers[0]->signal(SIGKILL);
  ASSERT_TRUE(spare.wait_for_output("running the attention check", milliseconds(20000)))
      << spare.output() << job.coordinator.process->output();
  spare.signal(SIGKILL);
  const std::optional<int> code = job.coordinator.process->wait_for_exit(milliseconds(20000));
  ASSERT_TRUE(code.has_value()) << job.coordinator.process->output();
  EXPECT_EQ(*code, 3) << job.coordinator.process->output();
  EXPECT_TRUE(dir.entries().empty()) << "the failed job left a file";
  for (int r : {1, 2}) {
    const std::optional<int> survivor = job.workers[r]->wait_for_exit(milliseconds(10000));
    ASSERT_TRUE(survivor.has_value()) << job.workers[r]->output();
    EXPECT_NE(*survivor, 0);
  }
}

}  // namespace
}  // namespace ringmaster::testing
