// launcher/exit_codes.h: the process exit codes of every `ringmaster` subcommand, in one table
// (README.md "Exit codes" repeats it), and the mapping from outcomes to codes.
//
// Scripts and schedulers branch on these: 3 means "a machine or process died, rerunning may
// help", 4 "fix the token", 5 "a peer never showed up". Thread-safe: constants and pure functions.
#pragma once

#include "core/status.h"
#include "worker/worker.h"

namespace ringmaster::launcher {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the job failed at run time (message names the place)
inline constexpr int kExitUsage = 2;     // bad command line or job spec
inline constexpr int kExitPeerLost = 3;  // a worker (or, for a worker, the coordinator) was lost
inline constexpr int kExitAuth = 4;      // no job token, a bad token file, or a wrong token
inline constexpr int kExitTimeout = 5;   // join timeout, a step deadline, or no coordinator
// The input, model or output path is unusable, or `run --max-memory-per-worker` refused the job
// (launcher/plan_command.h); no worker ran.
inline constexpr int kExitBadInput = 6;
inline constexpr int kExitInterrupted = 130;  // stopped by SIGINT or SIGTERM

// The coordinator's outcome (coordinator/coordinator.h lists its codes). `before_listening`: it
// failed while checking the job (reading the input, the model, the output path), before any
// worker could join.
inline int coordinator_exit_code(const Status& status, bool before_listening = false) {
  if (before_listening &&
      (status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kNotFound ||
       status.code() == StatusCode::kDataLoss)) {
    return kExitBadInput;
  }
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kUnavailable:
      return kExitPeerLost;
    case StatusCode::kDeadlineExceeded:
      return kExitTimeout;
    case StatusCode::kCancelled:
      return kExitInterrupted;
    default:
      return kExitFailed;
  }
}

inline int worker_exit_code(worker::WorkerExit exit) {
  switch (exit) {
    case worker::WorkerExit::kOk:
      return kExitOk;
    case worker::WorkerExit::kFailed:
      return kExitFailed;
    case worker::WorkerExit::kCoordinatorLost:
      return kExitPeerLost;
    case worker::WorkerExit::kAuthFailed:
      return kExitAuth;
    case worker::WorkerExit::kTimeout:
      return kExitTimeout;
    case worker::WorkerExit::kCancelled:
      return kExitInterrupted;
  }
  return kExitFailed;
}

}  // namespace ringmaster::launcher
