// worker/worker.h: runs one worker process's part of a job; the entry point of
// `ringmaster worker`.
//
// The worker joins the coordinator (ControlClient: retry, backoff, authentication), creates its
// data-plane endpoint and registers with its address (and in a --rank-weights auto job with the
// speed it measured, worker/calibration.h), receives its Assignment, runs its shard on
// a separate thread (ShardRunner), streams the rows back (ResultStreamer) and waits for the
// coordinator's verdict. Heartbeats go out every interval the coordinator chose; a coordinator
// silent for longer than its dead deadline, or gone (EOF), ends the worker, as does an Abort.
//
// Ending while the shard thread still runs (abort, coordinator lost, signal) cancels it
// (ShardRunner::cancel: the compute and the data-plane waits stop at their next check, well
// within a second) and waits up to `abort_grace` for it; past that (a CUDA kernel, a UCX close
// that hangs) the outcome says so (abandoned_thread) and the caller must leave with _exit, since
// such a thread cannot be joined.
//
// Thread-safety: run_worker blocks the calling thread, which runs the control connection; it
// installs SIGINT/SIGTERM handlers for that time when handle_signals is set.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "proto/auth.h"
#include "worker/control_client.h"

namespace ringmaster::worker {

struct WorkerOptions {
  std::string coordinator_host;
  uint16_t coordinator_port = 0;
  int rank_hint = -1;  // -1: none
  std::string host;    // this machine, as the coordinator will name it; empty: gethostname()
  std::string job_id;  // non-empty: join only a coordinator that proves it serves this job
  ConnectKnobs connect;
  std::chrono::milliseconds abort_grace{10000};
  // This process's rank among the workers on its host (LOCAL_RANK, SLURM_LOCALID or
  // OMPI_COMM_WORLD_LOCAL_RANK): picks its GPU for the nccl data plane.
  int local_rank = 0;
  bool handle_signals = true;
  // Tests only (RINGMASTER_TESTING_SILENT_RANK, read in builds with RINGMASTER_TESTING_FAULTS):
  // if this worker is assigned this rank, its data-plane sends are dropped while heartbeats go
  // on, the silent peer of RELIABILITY.md R4.
  int testing_silent_rank = -1;  // -1: none
  // Tests only (RINGMASTER_TESTING_SPEEDS): > 0, the speed this worker registers with when the
  // coordinator asks for a measurement (--rank-weights auto), instead of measuring.
  double testing_speed = 0;
};

// Why a worker ended; the launcher turns it into an exit code.
enum class WorkerExit {
  kOk,               // the coordinator confirmed the job succeeded
  kFailed,           // this shard failed, or the coordinator aborted the job
  kCoordinatorLost,  // EOF or missed heartbeats from the coordinator
  kAuthFailed,       // the job token did not match
  kTimeout,          // the coordinator could not be reached within connect_timeout
  kCancelled,        // a signal stopped the worker
};

struct WorkerOutcome {
  WorkerExit exit = WorkerExit::kFailed;
  Status status;
  bool abandoned_thread = false;  // the shard thread outlived abort_grace: leave with _exit
};

WorkerOutcome run_worker(const proto::JobToken& token, const WorkerOptions& options);

}  // namespace ringmaster::worker
