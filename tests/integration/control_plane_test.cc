// The control plane between real processes over loopback: `ringmaster coordinator` and
// `ringmaster worker` started separately, as a cluster script would. Covers the wrong token, a
// killed worker, the join timeout and a worker that outlives its coordinator. Test knobs follow
// RELIABILITY.md: heartbeat 200 ms, dead after 1 s, abort grace 2 s.
#include <gtest/gtest.h>

#include <csignal>

#include "comm/make_communicator.h"
#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

const std::string kToken = "7c461069088c1000316722c133c47d59";

TEST(ControlPlane, WrongTokenIsRefusedAndTheJobCompletes) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  Coordinator coordinator = start_coordinator(kToken, 2, out, job);
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();

  const auto start = std::chrono::steady_clock::now();
  auto intruder = start_worker(coordinator.address, "0b5c9e1d7a2f48e6b3c0d9a14e7f2a58");
  const std::optional<int> refused = intruder->wait_for_exit(slack(milliseconds(5000)));
  ASSERT_TRUE(refused.has_value()) << "wrong-token worker still running\n" << intruder->output();
  EXPECT_EQ(*refused, 4) << intruder->output();  // the documented authentication code
  const double refused_s = seconds_since(start);
  EXPECT_LT(refused_s,
            2.0 * time_slack());  // refused within 1 s, plus process start on a loaded machine
  std::printf("[ timing ] wrong-token worker refused after %.3f s\n", refused_s);
  // The worker checks the coordinator's proof first, finds it wrong and hangs up; the
  // coordinator logs the peer that left mid-handshake.
  EXPECT_NE(intruder->output().find("proof does not match"), std::string::npos)
      << intruder->output();
  EXPECT_TRUE(
      coordinator.process->wait_for_output("before it authenticated", slack(milliseconds(2000))))
      << coordinator.process->output();

  // A worker with no token at all never reaches the network.
  auto tokenless = start_worker(coordinator.address, "");
  EXPECT_EQ(tokenless->wait_for_exit(slack(milliseconds(5000))), std::optional<int>(4));

  // The right token, but told to join another job: refused before it proves itself.
  auto other_job =
      Process::start({ringmaster_binary(), "worker", "--coordinator", coordinator.address,
                      "--job-id", "not-this-job", "--connect-timeout-ms", "10000"},
                     {{"RINGMASTER_TOKEN", kToken}});
  ASSERT_TRUE(other_job.ok()) << other_job.status().to_string();
  EXPECT_EQ((*other_job)->wait_for_exit(slack(milliseconds(5000))), std::optional<int>(4))
      << (*other_job)->output();
  EXPECT_NE((*other_job)->output().find(", not job not-this-job (--job-id)"), std::string::npos)
      << (*other_job)->output();

  auto w0 = start_worker(coordinator.address, kToken);
  auto w1 = start_worker(coordinator.address, kToken);
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(60000)));
  ASSERT_TRUE(code.has_value()) << coordinator.process->output();
  EXPECT_EQ(*code, 0) << coordinator.process->output();
  EXPECT_EQ(w0->wait_for_exit(slack(milliseconds(10000))), std::optional<int>(0)) << w0->output();
  EXPECT_EQ(w1->wait_for_exit(slack(milliseconds(10000))), std::optional<int>(0)) << w1->output();
  const Status same = matches_reference(out, job);
  EXPECT_TRUE(same.ok()) << same.to_string();
}

// SIGKILL, SIGTERM (the worker's own handler runs) and SIGABRT (a crash) end the job the same
// way: reported at once, naming rank, host, pid and phase.
class KilledWorker : public ::testing::TestWithParam<int> {};

TEST_P(KilledWorker, FailsTheJobFast) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 32768;  // seconds of work, so the kill lands mid-job
  Coordinator coordinator = start_coordinator(kToken, 3, out, job);
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  std::vector<std::unique_ptr<Process>> workers;
  for (int r = 0; r < 3; ++r) workers.push_back(start_worker(coordinator.address, kToken, r));
  Process& victim = *workers[1];
  ASSERT_TRUE(victim.wait_for_output("running the attention check", slack(milliseconds(20000))))
      << victim.output() << coordinator.process->output();

  const auto killed_at = std::chrono::steady_clock::now();
  victim.signal(GetParam());
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(10000)));
  const double detect_s = seconds_since(killed_at);
  ASSERT_TRUE(code.has_value()) << "coordinator still running 10 s after the kill\n"
                                << coordinator.process->output();
  EXPECT_EQ(*code, 3) << coordinator.process->output();  // the documented worker-lost code
  EXPECT_LT(detect_s, 2.0 * time_slack());
  const std::string log = coordinator.process->output();
  EXPECT_NE(log.find("rank 1 ("), std::string::npos) << log;
  EXPECT_NE(log.find("pid " + std::to_string(victim.pid())), std::string::npos) << log;
  EXPECT_NE(log.find("lost while running its shard"), std::string::npos) << log;
  EXPECT_TRUE(dir.entries().empty()) << "the failed job left a file";

  // Survivors stop within the abort grace (2 s) plus a margin, with the failure code.
  for (int r : {0, 2}) {
    const std::optional<int> survivor = workers[r]->wait_for_exit(slack(milliseconds(6000)));
    ASSERT_TRUE(survivor.has_value()) << "rank " << r << " still running\n" << workers[r]->output();
    EXPECT_NE(*survivor, 0) << workers[r]->output();
  }
  std::printf("[ timing ] signal %d to coordinator exit: %.3f s; all stopped after %.3f s\n",
              GetParam(), detect_s, seconds_since(killed_at));
}

INSTANTIATE_TEST_SUITE_P(Signals, KilledWorker, ::testing::Values(SIGKILL, SIGTERM, SIGABRT),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::string(sigabbrev_np(param.param));
                         });

TEST(ControlPlane, JoinTimeoutNamesTheMissingRanks) {
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 256;
  Coordinator coordinator =
      start_coordinator(kToken, 3, out, job, {"--join-timeout-ms", "1500", "--comm", "ucx"});
  if (coordinator.address.empty() && !have_ucx()) GTEST_SKIP() << "needs UCX for three workers";
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  auto w = start_worker(coordinator.address, kToken, 1);
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(10000)));
  ASSERT_TRUE(code.has_value()) << coordinator.process->output();
  EXPECT_EQ(*code, 5) << coordinator.process->output();  // the documented timeout code
  EXPECT_LT(seconds_since(start), 3.0 * time_slack());
  EXPECT_NE(coordinator.process->output().find("missing ranks: 0, 2"), std::string::npos)
      << coordinator.process->output();
  const std::optional<int> worker_code = w->wait_for_exit(slack(milliseconds(5000)));
  ASSERT_TRUE(worker_code.has_value()) << w->output();
  EXPECT_EQ(*worker_code, 1) << w->output();  // aborted by the coordinator
  EXPECT_TRUE(dir.entries().empty());
}

TEST(ControlPlane, WorkerExitsWhenTheCoordinatorDies) {
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 256;
  Coordinator coordinator = start_coordinator(kToken, 2, out, job, {"--comm", "ucx"});
  if (coordinator.address.empty() && !have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  auto w = start_worker(coordinator.address, kToken);
  ASSERT_TRUE(coordinator.process->wait_for_output("registered", slack(milliseconds(10000))))
      << coordinator.process->output() << w->output();
  const auto killed_at = std::chrono::steady_clock::now();
  coordinator.process->signal(SIGKILL);
  const std::optional<int> code = w->wait_for_exit(slack(milliseconds(5000)));
  ASSERT_TRUE(code.has_value()) << w->output();
  EXPECT_EQ(*code, 3) << w->output();  // coordinator lost
  EXPECT_LT(seconds_since(killed_at), 2.0 * time_slack());
}

}  // namespace
}  // namespace ringmaster::testing
