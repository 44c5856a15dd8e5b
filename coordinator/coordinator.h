// coordinator/coordinator.h: runs one job's coordinator to completion; the entry point that
// `ringmaster coordinator` and `ringmaster run` call.
//
// The pieces (each its own header): ModelJobInputs tokenizes a model job's input; Server accepts
// and authenticates connections; JobRunner drives the job (Registry assigns ranks,
// HeartbeatMonitor watches liveness, ResultAssembler checks and places rows, JobOutput writes
// the files). This file only wires them to one io_context and one strand, so the coordinator's
// state is touched by one handler at a time.
//
// Thread-safety: run_coordinator blocks the calling thread until the job ends; it installs
// SIGINT/SIGTERM handlers for that time when handle_signals is set.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "coordinator/job_runner.h"
#include "coordinator/server.h"
#include "core/status.h"
#include "proto/auth.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

struct CoordinatorOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: an ephemeral port, reported through on_listening
  // The whole job (proto/ringmaster.proto JobSpec): it must pass validate_job_request; the
  // coordinator completes a model job from its model and input (coordinator/planner.h).
  pb::JobSpec job;
  // Called once the socket listens, with the bound port (print it, write a port file).
  std::function<void(uint16_t port)> on_listening;
  // SIGINT / SIGTERM abort the job (Abort to every worker, outcome kCancelled).
  bool handle_signals = true;
  // How long Abort / Done frames may take to flush before connections are cut (tests shorten
  // it; not a job knob).
  std::chrono::milliseconds flush_timeout{2000};
};

// Runs the job. OK iff the output file is complete and in place. Failures:
//   kUnavailable       a worker was lost (connection dropped, heartbeats missed); names it
//   kDeadlineExceeded  the join timeout passed; names the missing ranks
//   kCancelled         a signal stopped the job
//   other codes        a worker's reported error, bad results, the output write, bad options
Status run_coordinator(const proto::JobToken& token, const CoordinatorOptions& options);

}  // namespace ringmaster::coordinator
