// A multi-host run on one machine: the coordinator and each worker in a network namespace of its
// own, joined by veth pairs to a bridge in a further namespace, so every byte of the control and
// data planes crosses a (virtual) network link and nothing reaches another over loopback. The
// namespaces are created and removed by the test; without root or `ip`, it skips and says why, or
// fails when RINGMASTER_REQUIRE_NETNS is set (scripts/test sets it: CI runs as root).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "comm/make_communicator.h"
#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

const std::string kToken = "701a9085d4b4f06b6046e18f1a932a6d";

// RINGMASTER_REQUIRE_NETNS set (and not "0"): namespaces that cannot be made fail the test.
bool netns_required() {
  const char* value = std::getenv("RINGMASTER_REQUIRE_NETNS");
  return value != nullptr && *value != '\0' && std::string(value) != "0";
}

// Runs `ip ...` to completion; the exit code and output.
std::pair<int, std::string> ip(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/sbin/ip");
  auto process = Process::start(args);
  if (!process.ok()) return {-1, process.status().to_string()};
  const std::optional<int> code = (*process)->wait_for_exit(slack(milliseconds(10000)));
  return {code.value_or(-1), (*process)->output()};
}

// The namespaces of one test: "<prefix>br" holds the bridge, "<prefix>n<i>" node i with address
// 10.<a>.<b>.(i + 1)/24. Removed on destruction, processes first (the caller stops them).
class NetnsLab {
 public:
  explicit NetnsLab(int nodes) {
    const int id = ::getpid() % 10000;
    prefix_ = "rm" + std::to_string(id);
    subnet_ = "10.213." + std::to_string(id % 250) + ".";
    if (::geteuid() != 0) {
      error_ = "not root: creating network namespaces needs CAP_SYS_ADMIN";
      return;
    }
    if (::access("/usr/sbin/ip", X_OK) != 0) {
      error_ = "/usr/sbin/ip not found (install iproute2)";
      return;
    }
    const std::string bridge_ns = prefix_ + "br";
    if (!run({"netns", "add", bridge_ns})) return;
    namespaces_.push_back(bridge_ns);
    if (!run({"-n", bridge_ns, "link", "add", "br0", "type", "bridge"}) ||
        !run({"-n", bridge_ns, "link", "set", "br0", "up"})) {
      return;
    }
    for (int i = 0; i < nodes; ++i) {
      const std::string ns = node(i);
      const std::string inside = prefix_ + "n" + std::to_string(i) + "a";
      const std::string outside = prefix_ + "n" + std::to_string(i) + "b";
      if (!run({"netns", "add", ns})) return;
      namespaces_.push_back(ns);
      if (!run({"link", "add", inside, "type", "veth", "peer", "name", outside}) ||
          !run({"link", "set", inside, "netns", ns}) ||
          !run({"link", "set", outside, "netns", bridge_ns}) ||
          !run({"-n", bridge_ns, "link", "set", outside, "master", "br0", "up"}) ||
          !run({"-n", ns, "addr", "add", address(i) + "/24", "dev", inside}) ||
          !run({"-n", ns, "link", "set", inside, "up"}) ||
          !run({"-n", ns, "link", "set", "lo", "up"})) {
        return;
      }
    }
    ready_ = true;
  }

  ~NetnsLab() {
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
      (void)ip({"netns", "del", *it});
    }
  }

  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  std::string node(int i) const { return prefix_ + "n" + std::to_string(i); }
  std::string address(int i) const { return subnet_ + std::to_string(i + 1); }

  // Takes node i's link to the bridge down: a network partition, with both ends alive.
  bool cut(int i) {
    return run(
        {"-n", prefix_ + "br", "link", "set", prefix_ + "n" + std::to_string(i) + "b", "down"});
  }

  // args run as a process inside node i's namespace.
  std::vector<std::string> in_node(int i, std::vector<std::string> args) const {
    args.insert(args.begin(), {"/usr/sbin/ip", "netns", "exec", node(i)});
    return args;
  }

 private:
  bool run(const std::vector<std::string>& args) {
    const auto [code, output] = ip(args);
    if (code == 0) return true;
    error_ = "ip";
    for (const std::string& a : args) error_ += " " + a;
    error_ += " failed (" + std::to_string(code) + "): " + output;
    return false;
  }

  std::string prefix_;
  std::string subnet_;
  std::vector<std::string> namespaces_;
  bool ready_ = false;
  std::string error_;
};

// `ringmaster coordinator` in node 0 of `lab`, UCX over TCP only (with shared memory UCX would
// bypass the namespaces' links), heartbeats every 200 ms; the address it listens on, or empty.
std::string start_coordinator_in(const NetnsLab& lab, int workers, const std::string& out,
                                 const CheckJob& job, const std::string& dead_after_ms,
                                 std::unique_ptr<Process>& coordinator) {
  std::vector<std::string> args = {ringmaster_binary(),
                                   "coordinator",
                                   "--listen",
                                   lab.address(0) + ":0",
                                   "--workers",
                                   std::to_string(workers),
                                   "--out",
                                   out,
                                   "--heartbeat-ms",
                                   "200",
                                   "--dead-after-ms",
                                   dead_after_ms,
                                   "--join-timeout-ms",
                                   "20000",
                                   "--ucx-transports",
                                   "tcp"};
  for (std::string& f : job.flags()) args.push_back(std::move(f));
  auto process = Process::start(lab.in_node(0, args), {{"RINGMASTER_TOKEN", kToken}});
  RM_CHECK(process.ok()) << process.status().to_string();
  coordinator = std::move(process).value();
  if (!coordinator->wait_for_output("listening on", slack(milliseconds(10000)))) return "";
  return listening_address(coordinator->output());
}

TEST(MultiHost, CoordinatorAndWorkersInSeparateNetworkNamespaces) {
  const auto built = comm::built_backends();
  if (std::find(built.begin(), built.end(), "ucx") == built.end()) {
    GTEST_SKIP() << "needs UCX for workers on separate hosts";
  }
  constexpr int kWorkers = 3;
  NetnsLab lab(kWorkers + 1);  // node 0: the coordinator
  if (!lab.ready()) {
    if (netns_required()) FAIL() << "RINGMASTER_REQUIRE_NETNS is set: " << lab.error();
    GTEST_SKIP() << "cannot build the network namespaces: " << lab.error();
  }

  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 2048;
  std::unique_ptr<Process> coordinator;
  const std::string address =
      start_coordinator_in(lab, kWorkers, out, job, slack_ms_flag(2000), coordinator);
  ASSERT_FALSE(address.empty()) << coordinator->output();

  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 1; i <= kWorkers; ++i) {
    auto w = Process::start(
        lab.in_node(i, {ringmaster_binary(), "worker", "--coordinator", address, "--host",
                        "node" + std::to_string(i), "--rank-hint", std::to_string(i - 1)}),
        {{"RINGMASTER_TOKEN", kToken}});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    workers.push_back(std::move(w).value());
  }
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = coordinator->wait_for_exit(slack(milliseconds(60000)));
  ASSERT_TRUE(code.has_value()) << coordinator->output();
  EXPECT_EQ(*code, 0) << coordinator->output();
  for (int i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(workers[i]->wait_for_exit(slack(milliseconds(10000))), std::optional<int>(0))
        << workers[i]->output();
  }
  // Every worker reached the coordinator from its own address, not over loopback.
  for (int i = 1; i <= kWorkers; ++i) {
    EXPECT_NE(coordinator->output().find("from " + lab.address(i) + ":"), std::string::npos)
        << coordinator->output();
  }
  const Status same = matches_reference(out, job);
  EXPECT_TRUE(same.ok()) << same.to_string();
  std::printf("[ timing ] 3 workers in 4 namespaces: %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// RELIABILITY.md: a partition between the coordinator and a worker is reported within the
// heartbeat deadline (dead after 1 s here), not after the kernel's TCP timeouts; the worker cut off
// gives up on its coordinator within the same deadline, and nothing is written.
TEST(MultiHost, PartitionedWorkerIsReportedWithinTheHeartbeatDeadline) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for workers on separate hosts";
  NetnsLab lab(3);  // node 0: the coordinator
  if (!lab.ready()) {
    if (netns_required()) FAIL() << "RINGMASTER_REQUIRE_NETNS is set: " << lab.error();
    GTEST_SKIP() << "cannot build the network namespaces: " << lab.error();
  }

  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 65536;  // seconds of work, so the cut lands mid-job
  std::unique_ptr<Process> coordinator;
  const std::string address =
      start_coordinator_in(lab, 2, out, job, slack_ms_flag(1000), coordinator);
  ASSERT_FALSE(address.empty()) << coordinator->output();
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 1; i <= 2; ++i) {
    auto w = Process::start(lab.in_node(i, {ringmaster_binary(), "worker", "--coordinator", address,
                                            "--host", "node" + std::to_string(i), "--rank-hint",
                                            std::to_string(i - 1), "--abort-grace-ms", "2000"}),
                            {{"RINGMASTER_TOKEN", kToken}});
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    workers.push_back(std::move(w).value());
  }
  ASSERT_TRUE(
      workers[1]->wait_for_output("running the attention check", slack(milliseconds(20000))))
      << workers[1]->output() << coordinator->output();

  const auto cut_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(lab.cut(2)) << lab.error();
  const bool reported =
      coordinator->wait_for_output("missed heartbeats", slack(milliseconds(10000)));
  const double detect_s = seconds_since(cut_at);
  EXPECT_TRUE(reported) << coordinator->output();
  EXPECT_LT(detect_s, 2.5 * time_slack());  // dead after 1 s, a heartbeat, slack for 2 shared cores
  EXPECT_NE(coordinator->output().find("rank 1 (node2"), std::string::npos)
      << coordinator->output();
  const std::optional<int> code = coordinator->wait_for_exit(slack(milliseconds(10000)));
  ASSERT_TRUE(code.has_value()) << coordinator->output();
  EXPECT_EQ(*code, 3) << coordinator->output();
  // The worker cut off hears nothing either and gives up on its coordinator (exit 3).
  const std::optional<int> cut_code = workers[1]->wait_for_exit(slack(milliseconds(10000)));
  ASSERT_TRUE(cut_code.has_value()) << workers[1]->output();
  EXPECT_EQ(*cut_code, 3) << workers[1]->output();
  EXPECT_TRUE(workers[0]->wait_for_exit(slack(milliseconds(10000))).has_value())
      << workers[0]->output();
  EXPECT_TRUE(dir.entries().empty());
  std::printf("[ timing ] partition to report: %.3f s; the cut-off worker gone after %.3f s\n",
              detect_s, seconds_since(cut_at));
}

}  // namespace
}  // namespace ringmaster::testing
