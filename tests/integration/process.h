// tests/integration/process.h: real child processes for integration tests, and the checks the
// tests share (the ringmaster binary's path, output compared with the single-process reference).
//
// A Process is started with posix_spawn (never fork from the threaded test), its stdout and
// stderr merged into one pipe that a reader thread drains into a buffer, so a test can wait for
// a log line (wait_for_output) or the exit (wait_for_exit, on a pidfd) with a bounded deadline
// and no sleeping. The destructor SIGKILLs and reaps a child still running, so a failing test
// leaves no process behind. Thread-safety: one test thread drives a Process; output() may be
// read while the reader thread appends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "attention/check_job.h"
#include "core/status.h"
#include "tests/testing/temp_dir.h"  // TempDir, which every integration test uses
#include "tests/testing/time_slack.h"

namespace ringmaster::testing {

using std::chrono::milliseconds;

// The `ringmaster` binary under test (the build's launcher target).
std::string ringmaster_binary();

class Process {
 public:
  // Starts args[0] (a path) with this process's environment plus `env` (a value of "" unsets).
  static StatusOr<std::unique_ptr<Process>> start(
      std::vector<std::string> args, const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128 + signal for a signal), or nullopt if it is still running at `timeout`.
  std::optional<int> wait_for_exit(milliseconds timeout);
  // True once the output contains `needle`; false at `timeout` or when the output ends first.
  bool wait_for_output(const std::string& needle, milliseconds timeout);
  std::string output() const;
  void signal(int sig) const;
  bool exited() const { return exit_code_.has_value(); }

 private:
  Process() = default;
  void read_loop(int fd);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable grew_;
  std::string output_;         // guarded by mutex_
  bool output_ended_ = false;  // guarded by mutex_
};

// Runs `args` (with `env` added, as Process::start) to its end, at most 120 s: the exit code, or
// -1 and a test failure when it did not start or end. `output`, when given, gets what it printed.
int run_command(const std::vector<std::string>& args, std::string* output = nullptr,
                const std::map<std::string, std::string>& env = {});

// An .npy file's values as float64; empty, and a test failure, when it cannot be read.
std::vector<double> load_npy(const std::string& path);

// The job flags shared by a test's coordinator and its reference.
struct CheckJob {
  int64_t tokens = 1024;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 32;
  bool causal = true;
  std::string plan = "zigzag";
  std::string context_parallel = "ring";  // --context-parallel
  int ulysses_degree = 0;                 // --ulysses-degree, hybrid only
  uint64_t seed = 7;

  std::vector<std::string> flags() const;
  attention::CheckJobSpec spec() const;
};

// Compares the .npy at `path` with check_job_reference(job): same shape, every element within
// 1e-6 + 1e-5 |ref|. The Status says where the first mismatch is.
Status matches_reference(const std::string& path, const CheckJob& job);

// True when this build has the UCX data plane (jobs of more than one worker need it).
bool have_ucx();

double seconds_since(std::chrono::steady_clock::time_point start);

// time_slack() (tests/testing/time_slack.h) scales the test's own bounds, and the one knob that a
// starved process trips over: the dead deadline start_coordinator gives (a TSan worker's heartbeat
// thread can stall past 1 s).

// A `ringmaster coordinator` started as a cluster script would, on 127.0.0.1 with an ephemeral
// port and test knobs (heartbeat 200 ms, dead after 1 s times time_slack() unless `extra` sets
// --dead-after-ms), and the address it listens on (empty if it never said).
struct Coordinator {
  std::unique_ptr<Process> process;
  std::string address;  // 127.0.0.1:PORT
  uint16_t port = 0;
};
Coordinator start_coordinator(const std::string& token, int workers, const std::string& out,
                              const CheckJob& job, std::vector<std::string> extra = {});

// A `ringmaster worker` for `address` (abort grace 2 s), with the rank variables of launchers
// unset so a test does not depend on its own environment. rank_hint -1: none.
std::unique_ptr<Process> start_worker(const std::string& address, const std::string& token,
                                      int rank_hint = -1);

// The "HOST:PORT" a coordinator printed ("... listening on HOST:PORT"); empty when absent.
std::string listening_address(const std::string& output);

// Pids of live processes whose command line contains `needle` (our unique paths), for the
// no-orphan checks.
std::vector<pid_t> processes_mentioning(const std::string& needle);

// Waits until no live process mentions `needle`; returns the stragglers at `timeout`.
std::vector<pid_t> wait_until_gone(const std::string& needle, milliseconds timeout);

}  // namespace ringmaster::testing
