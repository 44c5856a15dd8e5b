// The listener audit of RELIABILITY.md S9: while a job runs, every listening TCP socket and every
// bound UDP socket of the coordinator and the workers is on 127.0.0.1 or ::1 (UNIX sockets and
// shared memory are fine). `ringmaster run` keeps the data plane on loopback by default; a cluster
// job gets the same with --data-interface lo. Before the fix each worker's UCX listened on the
// host's external address too.
//
// The audit reads /proc: a process's socket inodes from /proc/<pid>/fd, their addresses and
// states from /proc/<pid>/net/{tcp,tcp6,udp,udp6}.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

constexpr char kToken[] = "listener-audit-token-0123456789abcdef";

struct Socket {
  std::string table;  // "tcp", "tcp6", "udp", "udp6"
  std::string local;  // hex as /proc prints it, "0100007F:1F90"
  bool listening = false;
};

// The socket inodes `pid` holds open.
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fds, ec)) {
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  return inodes;
}

// The listening TCP and bound UDP sockets of `pid`.
std::vector<Socket> bound_sockets(pid_t pid) {
  const std::set<std::string> inodes = socket_inodes(pid);
  std::vector<Socket> sockets;
  for (const char* table : {"tcp", "tcp6", "udp", "udp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (inodes.count(inode) == 0) continue;
      const bool udp = table[0] == 'u';
      const bool listening = state == "0A";  // TCP_LISTEN
      if (!udp && !listening) continue;      // connections go where their peers are
      sockets.push_back({table, local, listening});
    }
  }
  return sockets;
}

bool on_loopback(const Socket& socket) {
  const std::string address = socket.local.substr(0, socket.local.find(':'));
  if (address.size() == 8) return address.substr(6) == "7F";   // 127.x.y.z, little-endian
  return address == "00000000000000000000000001000000" ||      // ::1
         address.rfind("0000000000000000FFFF00007F", 0) == 0;  // ::ffff:127.x.y.z
}

// Audits `pids` until `done` says stop; fails on any socket off loopback. Returns how many
// listeners each pid showed at most, so the caller can check the audit saw them.
std::map<pid_t, size_t> audit_while(const std::vector<pid_t>& pids,
                                    const std::function<bool()>& done) {
  std::map<pid_t, size_t> most;
  while (!done()) {
    for (pid_t pid : pids) {
      const std::vector<Socket> sockets = bound_sockets(pid);
      size_t listeners = 0;
      for (const Socket& socket : sockets) {
        EXPECT_TRUE(on_loopback(socket))
            << "pid " << pid << " has a " << socket.table << " socket on " << socket.local;
        if (socket.listening) ++listeners;
      }
      most[pid] = std::max(most[pid], listeners);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return most;
}

// The direct children of `pid` (the coordinator and the workers of a `ringmaster run`).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  for (pid_t child; in >> child;) children.push_back(child);
  return children;
}

// A job long enough to audit: seconds of compute at 64K tokens on two workers.
CheckJob audit_job() {
  CheckJob job;
  job.tokens = 65536;
  job.heads = 2;
  job.kv_heads = 1;
  job.head_dim = 16;
  return job;
}

TEST(ListenerAudit, LocalRunListensOnlyOnLoopback) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  std::vector<std::string> args = {ringmaster_binary(), "run", "--workers", "2", "--out", out};
  for (std::string& f : audit_job().flags()) args.push_back(std::move(f));
  auto run = Process::start(args);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  // Every worker has made its UCX endpoint (listeners included) once the job runs.
  ASSERT_TRUE((*run)->wait_for_output("running: 2 workers joined", milliseconds(60000)))
      << (*run)->output();
  const std::vector<pid_t> pids = children_of((*run)->pid());
  ASSERT_EQ(pids.size(), 3u) << (*run)->output();  // the coordinator and two workers
  int rounds = 0;
  const std::map<pid_t, size_t> most = audit_while(
      pids, [&] { return ++rounds > 3 && (*run)->wait_for_exit(milliseconds(0)).has_value(); });
  const std::optional<int> code = (*run)->wait_for_exit(milliseconds(120000));
  ASSERT_EQ(code, std::optional<int>(0)) << (*run)->output();
  // The audit saw every process listen (the coordinator's port, each worker's UCX TCP iface).
  for (pid_t pid : pids) EXPECT_GE(most.at(pid), 1u) << "pid " << pid << " never listened";
}

TEST(ListenerAudit, ClusterWorkersBindTheDataInterface) {
  if (!have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  Coordinator coordinator =
      start_coordinator(kToken, 2, out, audit_job(), {"--data-interface", "lo"});
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();
  auto w0 = start_worker(coordinator.address, kToken, 0);
  auto w1 = start_worker(coordinator.address, kToken, 1);
  ASSERT_TRUE(
      coordinator.process->wait_for_output("running: 2 workers joined", milliseconds(60000)))
      << coordinator.process->output();
  int rounds = 0;
  const std::map<pid_t, size_t> most = audit_while({w0->pid(), w1->pid()}, [&] {
    return ++rounds > 3 && coordinator.process->wait_for_exit(milliseconds(0)).has_value();
  });
  ASSERT_EQ(coordinator.process->wait_for_exit(milliseconds(120000)), std::optional<int>(0))
      << coordinator.process->output();
  EXPECT_GE(most.at(w0->pid()), 1u);
  EXPECT_GE(most.at(w1->pid()), 1u);
}

}  // namespace
}  // namespace ringmaster::testing
