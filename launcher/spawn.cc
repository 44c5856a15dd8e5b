#include "launcher/spawn.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>

extern char** environ;

namespace ringmaster::launcher {

namespace {

// Owns the posix_spawn attribute objects for the duration of one call.
struct SpawnAttrs {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttrs() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
};

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

StatusOr<pid_t> spawn(const SpawnSpec& spec) {
  SpawnAttrs a;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  // The launcher blocks and catches signals; the child starts with none blocked and defaults.
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&a.attr, &empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&a.attr, &defaults);
  if (spec.process_group >= 0) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&a.attr, spec.process_group);
  }
  posix_spawnattr_setflags(&a.attr, flags);
  for (const auto& [from, to] : spec.fds) {
    posix_spawn_file_actions_adddup2(&a.actions, from, to);
  }
  std::vector<char*> argv = c_strings(spec.args);
  std::vector<char*> envp = c_strings(spec.env);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, spec.path.c_str(), &a.actions, &a.attr, argv.data(), envp.data());
  if (rc != 0) return errno_status("spawning " + spec.path, rc);
  return pid;
}

Status spawn_and_wait(const SpawnSpec& spec, const std::string& what) {
  RM_ASSIGN_OR_RETURN(const pid_t pid, spawn(spec));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_status("waitpid", errno);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return internal_error(what + " exited with status " + std::to_string(status));
  }
  return ok_status();
}

std::vector<std::string> environment_with(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (overrides.count(key) == 0) env.push_back(entry);
  }
  for (const auto& [key, value] : overrides) env.push_back(key + "=" + value);
  return env;
}

StatusOr<std::string> self_executable() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0) return errno_status("/proc/self/exe", errno);
  return std::string(path, static_cast<size_t>(n));
}

}  // namespace ringmaster::launcher
