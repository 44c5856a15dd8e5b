#include "tests/integration/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "comm/make_communicator.h"
#include "core/thread_pool.h"
#include "io/npy.h"

extern char** environ;

namespace ringmaster::testing {

std::string ringmaster_binary() { return RINGMASTER_BINARY; }

std::vector<double> load_npy(const std::string& path) {
  StatusOr<io::NpyArray> array = io::read_npy(path);
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  if (!array.ok()) return {};
  StatusOr<std::vector<double>> values = array->to_f64();
  EXPECT_TRUE(values.ok()) << values.status().to_string();
  return values.ok() ? *values : std::vector<double>{};
}

int run_command(const std::vector<std::string>& args, std::string* output,
                const std::map<std::string, std::string>& env) {
  auto process = Process::start(args, env);
  if (!process.ok()) {
    ADD_FAILURE() << process.status().to_string();
    return -1;
  }
  const std::optional<int> code = (*process)->wait_for_exit(milliseconds(120000));
  if (output != nullptr) *output = (*process)->output();
  if (!code) {
    ADD_FAILURE() << "still running after 120 s\n" << (*process)->output();
    return -1;
  }
  return *code;
}

StatusOr<std::unique_ptr<Process>> Process::start(std::vector<std::string> args,
                                                  const std::map<std::string, std::string>& env) {
  std::vector<std::string> env_entries;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (env.count(entry.substr(0, entry.find('='))) == 0) env_entries.push_back(entry);
  }
  for (const auto& [key, value] : env) {
    if (!value.empty()) env_entries.push_back(key + "=" + value);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env_entries) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return errno_status("pipe", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return errno_status(std::string("spawning ") + argv[0], rc);
  }
  std::unique_ptr<Process> p(new Process());
  p->pid_ = pid;
  p->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  p->reader_ = std::thread([raw = p.get(), fd = out[0]] { raw->read_loop(fd); });
  if (p->pidfd_ < 0) return errno_status("pidfd_open", errno);
  return p;
}

Process::~Process() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    (void)wait_for_exit(milliseconds(10000));
  }
  if (reader_.joinable()) reader_.join();  // the pipe ends when the child (and its heirs) do
  if (pidfd_ >= 0) ::close(pidfd_);
}

void Process::read_loop(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    output_.append(buf, static_cast<size_t>(n));
    grew_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  output_ended_ = true;
  grew_.notify_all();
}

std::optional<int> Process::wait_for_exit(milliseconds timeout) {
  if (exit_code_) return exit_code_;
  pollfd fd{pidfd_, POLLIN, 0};
  const int rc = ::poll(&fd, 1, static_cast<int>(timeout.count()));
  if (rc <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // The reader thread may still be draining what the child wrote just before it exited; a test
  // that reads output() next must see it. Bounded: a grandchild may hold the pipe open.
  std::unique_lock lock(mutex_);
  grew_.wait_for(lock, milliseconds(500), [&] { return output_ended_; });
  return exit_code_;
}

bool Process::wait_for_output(const std::string& needle, milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return grew_.wait_for(lock, timeout, [&] {
    return output_.find(needle) != std::string::npos || output_ended_;
  }) && output_.find(needle) != std::string::npos;
}

std::string Process::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

void Process::signal(int sig) const {
  if (!exit_code_) ::kill(pid_, sig);
}

std::vector<std::string> CheckJob::flags() const {
  std::vector<std::string> flags = {"--tokens",
                                    std::to_string(tokens),
                                    "--heads",
                                    std::to_string(heads),
                                    "--kv-heads",
                                    std::to_string(kv_heads),
                                    "--head-dim",
                                    std::to_string(head_dim),
                                    causal ? "--causal" : "--bidirectional",
                                    "--plan",
                                    plan,
                                    "--context-parallel",
                                    context_parallel,
                                    "--seed",
                                    std::to_string(seed)};
  if (ulysses_degree > 0) {
    flags.push_back("--ulysses-degree");
    flags.push_back(std::to_string(ulysses_degree));
  }
  return flags;
}

attention::CheckJobSpec CheckJob::spec() const {
  attention::CheckJobSpec s;
  s.num_tokens = tokens;
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.head_dim = head_dim;
  s.causal = causal;
  s.seed = seed;
  const StatusOr<attention::ContextParallel> how =
      attention::parse_context_parallel(context_parallel);
  RM_CHECK(how.ok()) << how.status().to_string();
  s.context_parallel = {*how, ulysses_degree};
  return s;
}

Status matches_reference(const std::string& path, const CheckJob& job) {
  RM_ASSIGN_OR_RETURN(io::NpyArray got, io::read_npy(path));
  if (got.descr != "<f4") return invalid_argument(path + ": dtype " + got.descr + ", want <f4");
  const Shape want_shape = {job.tokens, job.heads, job.head_dim};
  if (got.shape != want_shape) {
    return invalid_argument(path + ": shape " + shape_to_string(got.shape) + ", want " +
                            shape_to_string(want_shape));
  }
  ThreadPool pool(2);
  RM_ASSIGN_OR_RETURN(Tensor want, attention::check_job_reference(job.spec(), pool));
  const auto* g = reinterpret_cast<const float*>(got.data.data());
  const float* w = want.data<float>();
  const int64_t row = job.heads * job.head_dim;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double tolerance = 1e-6 + 1e-5 * std::abs(static_cast<double>(w[i]));
    if (!(std::abs(static_cast<double>(g[i]) - w[i]) <= tolerance)) {
      std::ostringstream msg;
      msg << path << ": token " << i / row << " element " << i % row << " is " << g[i]
          << ", reference " << w[i];
      return data_loss(msg.str());
    }
  }
  return ok_status();
}

std::string listening_address(const std::string& output) {
  static constexpr std::string_view kMarker = "listening on ";
  const size_t at = output.find(kMarker);
  if (at == std::string::npos) return "";
  const size_t begin = at + kMarker.size();
  const size_t end = output.find_first_of(" \n", begin);
  if (end == std::string::npos) return "";
  return output.substr(begin, end - begin);
}

std::vector<pid_t> processes_mentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // read(2), not an ifstream: a process that exits between the listing and the read makes
    // read fail with ESRCH, which libstdc++'s filebuf throws as an exception.
    std::string cmdline;
    const int fd = ::open((entry.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char chunk[4096];
    ssize_t got = 0;
    while ((got = ::read(fd, chunk, sizeof chunk)) > 0)
      cmdline.append(chunk, static_cast<size_t>(got));
    ::close(fd);
    if (cmdline.find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

std::vector<pid_t> wait_until_gone(const std::string& needle, milliseconds timeout) {
  // Other people's children give no event to wait on; poll /proc with a bounded deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<pid_t> left = processes_mentioning(needle);
    if (left.empty() || std::chrono::steady_clock::now() >= deadline) return left;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

bool have_ucx() {
  const auto built = comm::built_backends();
  return std::find(built.begin(), built.end(), "ucx") != built.end();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Coordinator start_coordinator(const std::string& token, int workers, const std::string& out,
                              const CheckJob& job, std::vector<std::string> extra) {
  const std::string dead_after_ms = std::to_string(static_cast<int>(1000 * time_slack()));
  std::vector<std::string> args = {
      ringmaster_binary(),     "coordinator", "--listen", "127.0.0.1:0",    "--workers",
      std::to_string(workers), "--out",       out,        "--heartbeat-ms", "200"};
  // The test dead deadline, unless the test sets its own.
  if (std::find(extra.begin(), extra.end(), "--dead-after-ms") == extra.end()) {
    args.insert(args.end(), {"--dead-after-ms", dead_after_ms});
  }
  for (std::string& f : job.flags()) args.push_back(std::move(f));
  for (std::string& f : extra) args.push_back(std::move(f));
  auto process = Process::start(args, {{"RINGMASTER_TOKEN", token}});
  RM_CHECK(process.ok()) << process.status().to_string();
  Coordinator c{std::move(process).value(), "", 0};
  if (c.process->wait_for_output("listening on", milliseconds(10000))) {
    c.address = listening_address(c.process->output());
    c.port = static_cast<uint16_t>(std::stoi(c.address.substr(c.address.rfind(':') + 1)));
  }
  return c;
}

std::unique_ptr<Process> start_worker(const std::string& address, const std::string& token,
                                      int rank_hint) {
  std::vector<std::string> args = {ringmaster_binary(), "worker", "--coordinator",        address,
                                   "--abort-grace-ms",  "2000",   "--connect-timeout-ms", "10000"};
  if (rank_hint >= 0) args.insert(args.end(), {"--rank-hint", std::to_string(rank_hint)});
  auto process = Process::start(args, {{"RINGMASTER_TOKEN", token},
                                       {"SLURM_PROCID", ""},
                                       {"OMPI_COMM_WORLD_RANK", ""},
                                       {"RANK", ""}});
  RM_CHECK(process.ok()) << process.status().to_string();
  return std::move(process).value();
}

}  // namespace ringmaster::testing
