#include "launcher/local_run.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <vector>

#include "launcher/exit_codes.h"
#include "launcher/plan_command.h"
#include "launcher/spawn.h"
#include "launcher/spec_handoff.h"
#include "proto/auth.h"

namespace ringmaster::launcher {

namespace {

using Clock = std::chrono::steady_clock;

// How long the coordinator may take to report its port.
// Covers the coordinator reading a large input and checking the model before it listens.
constexpr std::chrono::seconds kStartupTimeout{300};
// After SIGKILL, how long reaping may take before we stop waiting (it is immediate in practice).
constexpr std::chrono::seconds kReapTimeout{5};
// The descriptor on which a coordinator child reports its port.
constexpr int kReadyFd = 3;
// The descriptor from which a coordinator child reads its JobSpec (launcher/spec_handoff.h).
constexpr int kJobSpecFd = 4;

// Signals reach us through a self-pipe written by the handler. Not signalfd: libraries (the
// OpenBLAS in this binary) start threads before main, and a process-directed signal may land on
// any thread that does not block it, so only a handler sees them all.
int g_signal_pipe_write = -1;

void on_signal(int sig) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe_write, &byte, 1);
  errno = saved;
}

struct Child {
  pid_t pid = -1;
  int pidfd = -1;  // readable once the child has exited (no SIGCHLD needed)
  std::string name;
  bool exited = false;
  int status = 0;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// The children of one run and the loop that watches them.
class Supervisor {
 public:
  Supervisor(int signal_fd, std::chrono::milliseconds worker_grace)
      : signal_fd_(signal_fd), worker_grace_(worker_grace) {}
  ~Supervisor() {
    for (Child& c : children_) {
      if (c.pidfd >= 0) ::close(c.pidfd);
    }
  }
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  Status add(pid_t pid, std::string name) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno_status("pidfd_open " + name, errno);
    children_.push_back({pid, fd, std::move(name)});
    return ok_status();
  }
  const Child& coordinator() const { return children_.front(); }
  bool all_exited() const {
    return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.exited; });
  }
  std::optional<int> interrupted() const { return interrupted_; }
  int signal_fd() const { return signal_fd_; }

  // Handles pending signals: the first SIGINT/SIGTERM/SIGHUP stops the job, the next kills it.
  void drain_signals() {
    unsigned char sig = 0;
    while (::read(signal_fd_, &sig, 1) == 1) {
      if (!interrupted_) {
        interrupted_ = sig;
        spdlog::warn("{}: stopping the job", strsignal(sig));
        stop();
      } else {
        spdlog::warn("{} again: killing the job's processes", strsignal(sig));
        kill_all();
      }
    }
  }

  // Asks the job to stop: SIGTERM to the coordinator (which aborts the workers), or to the whole
  // group when the coordinator is already gone; the workers get worker_grace to exit.
  void stop() {
    if (!coordinator().exited) {
      ::kill(coordinator().pid, SIGTERM);
    } else {
      signal_group(SIGTERM);
    }
    arm(worker_grace_);
  }

  void kill_all() {
    for (const Child& c : children_) {
      if (!c.exited) spdlog::warn("killing {} (pid {})", c.name, c.pid);
    }
    signal_group(SIGKILL);
    arm(kReapTimeout);
  }

  // Waits for every child, bounded: the grace after the coordinator exits, then SIGKILL.
  void wait_all() {
    bool killed = false;
    while (!all_exited()) {
      if (coordinator().exited && !deadline_) arm(worker_grace_);
      int timeout_ms = -1;
      if (deadline_) {
        timeout_ms = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now())
                   .count()));
      }
      std::vector<pollfd> fds = {{signal_fd_, POLLIN, 0}};
      for (const Child& c : children_) {
        if (!c.exited) fds.push_back({c.pidfd, POLLIN, 0});
      }
      const int rc = ::poll(fds.data(), fds.size(), timeout_ms);
      if (rc < 0 && errno != EINTR) break;
      if (rc > 0 && fds[0].revents != 0) drain_signals();
      reap();
      if (deadline_ && Clock::now() >= *deadline_ && !all_exited()) {
        if (killed) {
          spdlog::error("children still not reaped after SIGKILL; giving up");
          break;
        }
        killed = true;
        kill_all();
      }
    }
  }

  // Collects every child that has exited (non-blocking).
  void reap() {
    for (Child& c : children_) {
      if (c.exited) continue;
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
      c.exited = true;
      c.status = status;
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        spdlog::info("{} (pid {}) ended: {}", c.name, c.pid, describe_status(status));
      }
    }
  }

  void arm(std::chrono::milliseconds timeout) {
    const auto when = Clock::now() + timeout;
    if (!deadline_ || when < *deadline_) deadline_ = when;
  }

 private:
  void signal_group(int sig) {
    // The group is the coordinator's pid. It outlives its leader while any member, even a zombie
    // we have not reaped, exists; so signalling it never reaches a stranger.
    if (!all_exited()) ::kill(-coordinator().pid, sig);
  }

  int signal_fd_;
  std::chrono::milliseconds worker_grace_;
  std::vector<Child> children_;
  std::optional<int> interrupted_;
  std::optional<Clock::time_point> deadline_;
};

// Reads the coordinator's "<port>\n" from `fd`, watching signals and the coordinator meanwhile.
// nullopt when the coordinator exited, the job was interrupted, or the startup timeout passed.
std::optional<uint16_t> wait_for_port(int fd, Supervisor& supervisor) {
  std::string text;
  const auto deadline = Clock::now() + kStartupTimeout;
  while (!supervisor.interrupted()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      spdlog::error("the coordinator did not report its port within {} s", kStartupTimeout.count());
      return std::nullopt;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {supervisor.signal_fd(), POLLIN, 0}};
    const int rc = ::poll(fds, 2, static_cast<int>(left));
    if (rc < 0 && errno != EINTR) return std::nullopt;
    if (rc <= 0) continue;
    if (fds[1].revents != 0) supervisor.drain_signals();
    if (fds[0].revents == 0) continue;
    char buf[32];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // EOF: the coordinator failed before listening
    text.append(buf, static_cast<size_t>(n));
    if (const size_t nl = text.find('\n'); nl != std::string::npos) {
      const long port = std::strtol(text.c_str(), nullptr, 10);
      if (port <= 0 || port > 65535) return std::nullopt;
      return static_cast<uint16_t>(port);
    }
    if (text.size() > 16) return std::nullopt;
  }
  return std::nullopt;
}

// Installs the self-pipe handlers; returns the read end.
StatusOr<int> catch_signals() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return errno_status("pipe", errno);
  g_signal_pipe_write = fds[1];
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (::sigaction(sig, &action, nullptr) != 0) return errno_status("sigaction", errno);
  }
  return fds[0];
}

}  // namespace

int run_local(const LocalRunOptions& o) {
  StatusOr<pb::JobSpec> job = job_spec_from_flags(o.job);
  if (!job.ok()) {
    spdlog::error("{}", job.status().to_string());
    return kExitUsage;
  }
  if (const int code = check_predicted_memory(o.job, o.max_memory_per_worker, *job);
      code != kExitOk)
    return code;
  // Every process of a local run is on this host, so the data plane listens on loopback only
  // (RELIABILITY.md S9): UCX opens only "lo" (shared memory still serves same-host peers), and
  // NCCL's bootstrap and socket transport bind it too.
  if (job->comm().data_interface().empty()) job->mutable_comm()->set_data_interface("lo");
  const std::string nccl_interface = job->comm().data_interface();
  StatusOr<proto::JobToken> token = proto::JobToken::generate();
  StatusOr<std::string> exe = self_executable();
  StatusOr<int> signal_fd = catch_signals();
  if (!token.ok() || !exe.ok() || !signal_fd.ok()) {
    const Status& bad = !token.ok() ? token.status()
                        : !exe.ok() ? exe.status()
                                    : signal_fd.status();
    spdlog::error("{}", bad.to_string());
    return kExitFailed;
  }
  const std::vector<std::string> env = environment_with(
      {{"RINGMASTER_TOKEN", token->secret()}, {"NCCL_SOCKET_IFNAME", nccl_interface}});
  const std::string parent_pid = std::to_string(::getpid());
  Supervisor supervisor(*signal_fd, std::chrono::milliseconds(o.abort_grace_ms + 3000));

  // The port pipe. The child's end must not already be descriptor kReadyFd, or dup2 would be a
  // no-op that leaves it close-on-exec.
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    spdlog::error("{}", errno_status("pipe", errno).to_string());
    return kExitFailed;
  }
  const int ready_w = ::fcntl(ready[1], F_DUPFD_CLOEXEC, 10);
  ::close(ready[1]);
  // Likewise above the child's descriptors, so neither dup2 is a no-op.
  StatusOr<int> spec_fd = job_spec_memfd(*job);
  const int spec_r = spec_fd.ok() ? ::fcntl(*spec_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (spec_fd.ok()) ::close(*spec_fd);
  if (spec_r < 0) {
    spdlog::error("{}", spec_fd.ok() ? errno_status("fcntl", errno).to_string()
                                     : spec_fd.status().to_string());
    ::close(ready[0]);
    ::close(ready_w);
    return kExitFailed;
  }

  SpawnSpec coordinator;
  coordinator.path = *exe;
  coordinator.args = {*exe,
                      "--log-level",
                      o.log_level,
                      "coordinator",
                      "--listen",
                      o.listen_host + ":0",
                      "--ready-fd",
                      std::to_string(kReadyFd),
                      "--job-spec-fd",
                      std::to_string(kJobSpecFd),
                      "--parent-pid",
                      parent_pid};
  coordinator.env = env;
  coordinator.process_group = 0;
  coordinator.fds = {{ready_w, kReadyFd}, {spec_r, kJobSpecFd}};
  StatusOr<pid_t> coordinator_pid = spawn(coordinator);
  ::close(ready_w);
  ::close(spec_r);
  Status added = coordinator_pid.ok() ? supervisor.add(*coordinator_pid, "coordinator")
                                      : coordinator_pid.status();
  if (!added.ok()) {
    ::close(ready[0]);
    if (coordinator_pid.ok()) {
      ::kill(*coordinator_pid, SIGKILL);
      ::waitpid(*coordinator_pid, nullptr, 0);
    }
    spdlog::error("{}", added.to_string());
    return kExitFailed;
  }

  const std::optional<uint16_t> port = wait_for_port(ready[0], supervisor);
  ::close(ready[0]);
  if (port) {
    const std::string address = o.listen_host + ":" + std::to_string(*port);
    // Spares (recovery) come after the ranked workers and take no rank hint.
    const int spawned = job->world() + static_cast<int>(job->spares());
    for (int i = 0; i < spawned; ++i) {
      SpawnSpec worker;
      worker.path = *exe;
      worker.args = {*exe,
                     "--log-level",
                     o.log_level,
                     "worker",
                     "--coordinator",
                     address,
                     "--job-id=" + job->job_id(),  // '=': an id may start with '-'
                     "--rank-hint",
                     std::to_string(i < job->world() ? i : -1),
                     "--local-rank",
                     std::to_string(i),
                     "--parent-pid",
                     parent_pid,
                     "--connect-timeout-ms",
                     std::to_string(o.connect_timeout_ms),
                     "--abort-grace-ms",
                     std::to_string(o.abort_grace_ms)};
      worker.env = env;
      worker.process_group = *coordinator_pid;
      StatusOr<pid_t> pid = spawn(worker);
      const std::string name =
          i < job->world() ? "worker " + std::to_string(i) : "spare " + std::to_string(i);
      Status status = pid.ok() ? supervisor.add(*pid, name) : pid.status();
      if (!status.ok()) {
        spdlog::error("{}", status.to_string());
        if (pid.ok()) {
          ::kill(*pid, SIGKILL);
          ::waitpid(*pid, nullptr, 0);
        }
        supervisor.stop();
        break;
      }
    }
  } else if (!supervisor.interrupted()) {
    supervisor.stop();
  }
  supervisor.wait_all();

  if (supervisor.interrupted()) return kExitInterrupted;
  const Child& c = supervisor.coordinator();
  if (c.exited && WIFEXITED(c.status)) return WEXITSTATUS(c.status);
  return kExitFailed;
}

}  // namespace ringmaster::launcher
