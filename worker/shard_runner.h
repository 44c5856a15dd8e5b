// worker/shard_runner.h: the thread that does a worker's real work, off the Asio thread.
//
// In order: create the data-plane endpoint (comm::make_bootstrap), measure the worker's speed
// when asked (--rank-weights auto) and report both (the worker registers with them); wait for the
// assignment; connect to the peers; run the attention check (attention::run_check_job), a model job
// (run_model_shard) or a generate job (run_generate_shard) on a ThreadPool; report the rows or
// records. Blocking calls (UCX setup, step waits, the math) never stall the control connection, so
// heartbeats keep flowing while a shard computes.
//
// Callbacks run on the shard thread; the owner forwards them to its strand. After cancel()
// returns, no callback runs any more. The data-plane endpoints stay open after on_result until
// cancel(), which the owner calls when the job is over for every rank. cancel() also stops a run
// in progress (core/cancel.h): the compute stops between tiles and blocks, and every data-plane
// wait within a poll slice (comm/cancellable_comm.h), so the thread ends well within a second.
// An owner still bounds the wait (wait_for) and otherwise abandons the thread, which keeps its
// state alive on its own, and exits the process (RELIABILITY.md 3.3: abort has a deadline): a
// CUDA kernel or a UCX close is not interruptible.
//
// Thread-safety: start, assign, cancel and wait_for may be called from any one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "attention/check_job.h"
#include "comm/authenticated_comm.h"
#include "comm/faulty_comm.h"
#include "comm/make_communicator.h"
#include "comm/partition.h"
#include "core/status.h"
#include "worker/attention_backend.h"
#include "worker/calibration.h"
#include "worker/generate_shard.h"
#include "worker/model_shard.h"
#include "worker/shard_result.h"

namespace ringmaster::worker {

// What the coordinator's Assignment tells the shard thread, in plain types.
struct ShardAssignment {
  int rank = 0;
  std::vector<std::vector<std::byte>> peer_addresses;  // [rank], this rank's entry included
  // Exactly one of the two; a model job that generates also has `generate`.
  std::optional<attention::CheckJobSpec> check;
  std::optional<ModelShardSpec> model;
  std::optional<GenerateSpec> generate;
  std::optional<comm::PartitionPlan> plan;
  int threads = 1;
  std::chrono::milliseconds step_timeout{60000};
  // Where attention computes (the job's --device), and this worker's rank among the workers of
  // its host, which picks its GPU (-1: unknown, the rank stands in).
  ComputeDevice device = ComputeDevice::kCpu;
  DType compute = DType::kF32;  // what a CPU backend's products read (JobSpec.compute_dtype)
  int local_rank = -1;
  std::vector<std::byte> job_id;  // the job's data-plane id (NCCL's unique id); may be empty
  // This attempt's data-plane MAC key (comm/authenticated_comm.h), the job's name and the
  // attempt: with a key, every host-memory message is authenticated. NCCL moves device memory
  // and is not wrapped.
  std::optional<comm::DataPlaneKey> data_plane_key;
  std::string job_name;
  uint32_t epoch = 0;
  // Data-plane faults to inject (tests only; see comm/faulty_comm.h). Default: none.
  comm::CommFaults faults;
};

// The endpoint's address, and the speed measured when a calibration was asked for (else 0).
struct Registration {
  std::vector<std::byte> address;
  double speed = 0;
};

// What a shard computed: rows (the attention check, embed, score) or records (generate).
using ShardOutput = std::variant<ShardResult, GenerateShardResult>;

class ShardRunner {
 public:
  struct Callbacks {
    // What the worker registers with (or why it cannot).
    std::function<void(StatusOr<Registration> registration)> on_registration;
    // A model job finished block `blocks_done - 1` on this rank.
    std::function<void(int blocks_done)> on_progress;
    // A generate job ran `steps` decode steps and this rank generated `tokens` so far; at most
    // about 5 calls a second (and the first step's).
    std::function<void(int64_t steps, int64_t tokens)> on_decode_progress;
    // The shard's rows or records (or why it failed).
    std::function<void(StatusOr<ShardOutput> result)> on_result;
  };

  // With `calibration`, the thread measures this worker's speed (worker/calibration.h) after
  // creating its endpoint, before on_registration.
  ShardRunner(comm::CommSpec comm_spec, std::optional<CalibrationSpec> calibration,
              Callbacks callbacks);
  // Abandons a thread still running (see above); joins a finished one.
  ~ShardRunner();
  ShardRunner(const ShardRunner&) = delete;
  ShardRunner& operator=(const ShardRunner&) = delete;

  // Starts the thread. Call once.
  void start();
  // Hands over the assignment; the thread connects and computes. Call once, after on_registration.
  void assign(ShardAssignment assignment);
  // No callback runs after this returns; a thread waiting for its assignment gives up, and a
  // running shard stops at its next check (its kCancelled result is dropped).
  void cancel();
  // Waits up to `timeout` for the thread to end; true if it did (it is then joined).
  bool wait_for(std::chrono::milliseconds timeout);

 private:
  struct State;
  static void run(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
};

}  // namespace ringmaster::worker
