// RELIABILITY.md S3 between real processes: a flood of idle connections to the coordinator,
// from 127.0.0.1 (the workers' own address, so a per-address cap alone cannot tell them apart),
// each reopened as soon as the coordinator cuts it, running throughout a job. The job must still
// join and complete with the reference output, and the coordinator's log must stay readable
// (rate-limited warnings, not one line per connection).
//
// The flood stays on loopback and is bounded: kSockets open at once, reopened at most
// kConnectsPerSecond, at most kMaxConnects in all (TIME_WAIT entries on a shared machine) and
// kMaxFlood of wall time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

constexpr int kSockets = 100;  // more than the coordinator's 64 slots and its 8 per address
constexpr int kConnectsPerSecond = 500;
constexpr int64_t kMaxConnects = 6000;
constexpr milliseconds kMaxFlood{25000};

const std::string kToken = "5d0c3b7e9a41f2c86e1d4b09a7f3c25e";

int count_lines_with(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// Idle sockets to 127.0.0.1:port on a thread of its own; each one the coordinator closes is
// closed here too and reopened (within the rate and count bounds above).
class IdleFlood {
 public:
  explicit IdleFlood(uint16_t port) : port_(port), thread_([this] { run(); }) {}
  ~IdleFlood() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Until the flood has opened every socket once.
  bool wait_until_full(milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (connects_ < kSockets) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }
  int64_t connects() const { return connects_; }
  int64_t cuts() const { return cuts_; }
  // False when a bound (count, time) ended the flood before stop().
  bool ran_to_stop() const { return !exhausted_; }
  double seconds() const { return seconds_; }

 private:
  int open_one() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Non-blocking: a full accept queue must not stall the loop; a failed connect shows up as
    // POLLERR/POLLHUP below and counts as a cut.
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ++connects_;
    return fd;
  }

  void run() {
    const auto start = std::chrono::steady_clock::now();
    std::vector<pollfd> fds(kSockets);
    for (pollfd& p : fds) p = {open_one(), POLLIN, 0};
    while (!stop_) {
      const auto elapsed = std::chrono::steady_clock::now() - start;
      if (elapsed > kMaxFlood || connects_ >= kMaxConnects) {
        exhausted_ = true;
        break;
      }
      // Token bucket: the initial kSockets, then kConnectsPerSecond.
      const int64_t allowed =
          kSockets +
          static_cast<int64_t>(std::chrono::duration<double>(elapsed).count() * kConnectsPerSecond);
      (void)::poll(fds.data(), fds.size(), 10);
      for (pollfd& p : fds) {
        if (p.fd >= 0 && p.revents != 0) {
          char byte;
          const ssize_t n = ::recv(p.fd, &byte, 1, MSG_DONTWAIT);
          if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) continue;
          ::close(p.fd);  // cut by the coordinator
          p.fd = -1;
          ++cuts_;
        }
        if (p.fd < 0 && connects_ < allowed) p.fd = open_one();
        p.revents = 0;
      }
    }
    for (pollfd& p : fds) {
      if (p.fd >= 0) ::close(p.fd);
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  const uint16_t port_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> connects_{0};
  std::atomic<int64_t> cuts_{0};
  std::atomic<bool> exhausted_{false};
  std::atomic<double> seconds_{0};
  std::thread thread_;
};

// The "N workers joined in M ms" of the coordinator's log, or -1.
int64_t join_ms(const std::string& log) {
  const size_t at = log.find("workers joined in ");
  if (at == std::string::npos) return -1;
  return std::stoll(log.substr(at + std::string("workers joined in ").size()));
}

// Warning lines about unauthenticated connections: one per connection in full, or a summary.
int refusal_lines(const std::string& log) {
  return count_lines_with(log, "before it authenticated") +
         count_lines_with(log, "closed before authenticating");
}

// `ringmaster run --workers 2` with the flood started the moment its coordinator listens (the
// workers start at the same moment, so they join under the flood).
TEST(Flood, IdleConnectionsThroughoutRingmasterRunDoNotKeepWorkersOut) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 16384;  // a few seconds of work under the flood
  std::vector<std::string> args = {
      ringmaster_binary(),    "run",   "--workers",         "2",    "--out", out,
      "--connect-timeout-ms", "15000", "--join-timeout-ms", "20000"};
  for (std::string& f : job.flags()) args.push_back(std::move(f));
  auto run = Process::start(args);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  ASSERT_TRUE((*run)->wait_for_output("listening on", slack(milliseconds(10000))))
      << (*run)->output();
  const std::string address = listening_address((*run)->output());
  ASSERT_FALSE(address.empty()) << (*run)->output();
  const auto port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));

  IdleFlood flood(port);
  const std::optional<int> code = (*run)->wait_for_exit(slack(milliseconds(40000)));
  flood.stop();
  const std::string log = (*run)->output();
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 0) << log;
  EXPECT_TRUE(flood.ran_to_stop()) << "the flood hit its bound before the job ended";
  const Status same = matches_reference(out, job);
  EXPECT_TRUE(same.ok()) << same.to_string();
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
  std::printf(
      "[ flood ] ringmaster run: %.2f s of flood, %lld connects, %lld cut; workers joined "
      "in %lld ms; %d refusal log lines\n",
      flood.seconds(), static_cast<long long>(flood.connects()),
      static_cast<long long>(flood.cuts()), static_cast<long long>(join_ms(log)),
      refusal_lines(log));
}

// The same flood, at full strength before any worker starts (a cluster launch: coordinator
// first, workers later), then two workers: they join, the job completes, and the log has at most
// one line a second about the flood.
TEST(Flood, IdleConnectionsFromTheWorkersAddressDoNotKeepThemOut) {
  if (!have_ucx()) GTEST_SKIP() << "needs UCX for two workers";
  TempDir dir;
  const std::string out = dir.file("out.npy");
  CheckJob job;
  job.tokens = 8192;
  Coordinator coordinator = start_coordinator(kToken, 2, out, job, {"--join-timeout-ms", "20000"});
  ASSERT_FALSE(coordinator.address.empty()) << coordinator.process->output();

  IdleFlood flood(coordinator.port);
  ASSERT_TRUE(flood.wait_until_full(slack(milliseconds(5000))));
  // Let it churn: every slot the workers could use is held or being fought over.
  const bool evicting = coordinator.process->wait_for_output("dropped for a newer connection",
                                                             slack(milliseconds(5000)));
  EXPECT_TRUE(evicting) << coordinator.process->output();
  const auto workers_started = std::chrono::steady_clock::now();
  auto w0 = start_worker(coordinator.address, kToken, 0);
  auto w1 = start_worker(coordinator.address, kToken, 1);
  EXPECT_TRUE(coordinator.process->wait_for_output("workers joined", slack(milliseconds(20000))))
      << coordinator.process->output();
  const double join_s = seconds_since(workers_started);
  const std::optional<int> code = coordinator.process->wait_for_exit(slack(milliseconds(40000)));
  const double job_s = seconds_since(workers_started);
  flood.stop();
  const std::string log = coordinator.process->output();
  ASSERT_TRUE(code.has_value()) << log;
  EXPECT_EQ(*code, 0) << log;
  EXPECT_TRUE(flood.ran_to_stop()) << "the flood hit its bound before the job ended";
  EXPECT_EQ(w0->wait_for_exit(slack(milliseconds(10000))), std::optional<int>(0)) << w0->output();
  EXPECT_EQ(w1->wait_for_exit(slack(milliseconds(10000))), std::optional<int>(0)) << w1->output();
  const Status same = matches_reference(out, job);
  EXPECT_TRUE(same.ok()) << same.to_string();
  // Rate-limited: one line in full, then at most one summary a second (plus the last flush).
  const int lines = refusal_lines(log);
  EXPECT_LE(lines, 2 + static_cast<int>(flood.seconds() + 1)) << log;
  EXPECT_GT(flood.cuts(), kSockets);  // the coordinator did cut and the flood did reopen
  std::printf(
      "[ flood ] cluster: %.2f s of flood, %lld connects, %lld cut; both workers joined %.3f s "
      "after they started, the job ended after %.3f s; %d refusal log lines\n",
      flood.seconds(), static_cast<long long>(flood.connects()),
      static_cast<long long>(flood.cuts()), join_s, job_s, lines);
}

}  // namespace
}  // namespace ringmaster::testing
