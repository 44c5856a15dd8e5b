// launcher/local_run.h: `ringmaster run`, a coordinator and N workers as processes on this host.
//
// The launcher builds the JobSpec from the flags (launcher/job_flags.h; bad flags end here with
// kExitUsage), draws a fresh job token and hands it to its children through the environment
// (RINGMASTER_TOKEN), starts the coordinator on 127.0.0.1 with an ephemeral port (reported back
// on a pipe) and the spec on an inherited memfd (launcher/spec_handoff.h), then the workers,
// each with rank hint i. The children form one process group
// apart from the launcher's, so Ctrl-C reaches only the launcher, which forwards SIGTERM to the
// coordinator (the coordinator aborts the workers); a second signal kills the group. Every child
// also dies with the launcher (PR_SET_PDEATHSIG). Once the coordinator has exited, workers get
// `abort_grace + 3 s` to follow before the group is killed, so no process is left behind.
//
// Thread-safety: run_local installs SIGINT/SIGTERM/SIGHUP handlers (a self-pipe) for the rest of
// the process's life and waits on pidfds; call it once, from the main thread.
#pragma once

#include <cstdint>
#include <string>

#include "launcher/job_flags.h"

namespace ringmaster::launcher {

struct LocalRunOptions {
  JobFlags job;
  std::string listen_host = "127.0.0.1";
  std::string log_level = "info";
  uint32_t connect_timeout_ms = 60000;
  uint32_t abort_grace_ms = 10000;
  // Refuse a model job whose predicted peak per worker (launcher/plan_command.h) passes this,
  // e.g. "16GiB"; empty: no limit (the prediction is printed all the same).
  std::string max_memory_per_worker;
};

// Runs the job and returns the exit code (launcher/exit_codes.h): the coordinator's, or
// kExitInterrupted after a signal, or kExitUsage for bad flags, or kExitBadInput when the job is
// predicted to need more than --max-memory-per-worker (nothing is started then).
int run_local(const LocalRunOptions& options);

}  // namespace ringmaster::launcher
