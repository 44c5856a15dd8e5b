// launcher/spawn.h: starting child processes with posix_spawn, and the environment they get.
//
// `ringmaster run` starts its coordinator and workers as fresh executions of this same binary
// (exec, never fork-after-threads, RELIABILITY.md T1), with a clean signal mask and default
// signal dispositions, optionally in a process group of their own so that a terminal's Ctrl-C
// reaches only the launcher, which forwards it in order, and so the whole job can be killed at
// once. Secrets travel in the environment, never in argv (`/proc/<pid>/cmdline` is world-
// readable). Thread-safety: spawn() is safe from any thread; no shared state.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

struct SpawnSpec {
  std::string path;               // the executable
  std::vector<std::string> args;  // argv, argv[0] included
  std::vector<std::string> env;   // "KEY=value" entries
  // -1: stay in the launcher's group; 0: a new group led by the child; > 0: join that group.
  pid_t process_group = -1;
  // (from, to): the child gets `from` as descriptor `to`. `from` must not equal `to`.
  std::vector<std::pair<int, int>> fds;
};

// Starts the child. Errors name the executable and errno.
StatusOr<pid_t> spawn(const SpawnSpec& spec);

// Starts the child and waits for it; kInternal, naming `what`, unless it exits 0.
Status spawn_and_wait(const SpawnSpec& spec, const std::string& what);

// This process's environment with `overrides` set (replacing existing keys).
std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides);

// The absolute path of the running executable (/proc/self/exe).
StatusOr<std::string> self_executable();

}  // namespace ringmaster::launcher
