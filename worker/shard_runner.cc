#include "worker/shard_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "comm/cancellable_comm.h"
#include "comm/counting_comm.h"
#include "core/thread_pool.h"

namespace ringmaster::worker {
namespace {

// A run's stats from what its CountingComm counted: waits and bytes per phase, compute = wall -
// waits. The time outside every block ("other") is the run's wall less the phases' walls.
ShardStats traffic_stats(double wall_s, const comm::TrafficMeter& meter) {
  ShardStats stats;
  stats.wall_s = wall_s;
  double scoped_s = 0;
  bool have_other = false;
  for (const comm::PhaseTraffic& p : meter.phases()) {
    PhaseStats phase{p.name, p.scopes, p.wall_s, 0, p.wait_s, p.bytes_sent, p.bytes_received};
    if (p.name == comm::kOtherPhase) have_other = true;
    scoped_s += p.wall_s;
    stats.phases.push_back(std::move(phase));
  }
  if (!have_other) stats.phases.push_back(PhaseStats{.name = comm::kOtherPhase});
  for (PhaseStats& phase : stats.phases) {
    if (phase.name == comm::kOtherPhase) phase.wall_s = std::max(0.0, wall_s - scoped_s);
    phase.compute_s = std::max(0.0, phase.wall_s - phase.wait_s);
    stats.wait_s += phase.wait_s;
    stats.bytes_sent += phase.bytes_sent;
    stats.bytes_received += phase.bytes_received;
  }
  stats.compute_s = std::max(0.0, wall_s - stats.wait_s);
  return stats;
}

}  // namespace

// Shared by the owner and the thread, so an abandoned thread never touches freed memory.
struct ShardRunner::State {
  comm::CommSpec comm_spec;
  std::optional<CalibrationSpec> calibration;
  Callbacks callbacks;
  std::thread thread;

  std::mutex mutex;
  std::condition_variable changed;
  std::optional<ShardAssignment> assignment;  // guarded by mutex
  bool cancelled = false;                     // guarded by mutex
  bool finished = false;                      // guarded by mutex
  // Requested by cancel(): the compute and the data-plane waits stop at their next check
  // (core/cancel.h), so an aborted shard ends within a tile or a poll slice.
  std::stop_source stop;

  // Runs `fn` unless cancelled; holding the lock makes cancel() wait for a callback in flight.
  template <typename Fn>
  void notify(Fn&& fn) {
    std::lock_guard lock(mutex);
    if (!cancelled) fn();
  }
};

ShardRunner::ShardRunner(comm::CommSpec comm_spec, std::optional<CalibrationSpec> calibration,
                         Callbacks callbacks)
    : state_(std::make_shared<State>()) {
  state_->comm_spec = std::move(comm_spec);
  state_->calibration = std::move(calibration);
  state_->callbacks = std::move(callbacks);
}

ShardRunner::~ShardRunner() {
  cancel();
  if (!state_->thread.joinable()) return;
  bool finished;
  {
    std::lock_guard lock(state_->mutex);
    finished = state_->finished;
  }
  if (finished) {
    state_->thread.join();
  } else {
    // Stuck in a step or the math; it holds its own reference to the state.
    spdlog::warn("abandoning the shard thread, still running");
    state_->thread.detach();
  }
}

void ShardRunner::start() {
  state_->thread = std::thread([state = state_] { run(state); });
}

void ShardRunner::assign(ShardAssignment assignment) {
  std::lock_guard lock(state_->mutex);
  state_->assignment = std::move(assignment);
  state_->changed.notify_all();
}

void ShardRunner::cancel() {
  state_->stop.request_stop();
  std::lock_guard lock(state_->mutex);
  state_->cancelled = true;
  state_->changed.notify_all();
}

bool ShardRunner::wait_for(std::chrono::milliseconds timeout) {
  if (!state_->thread.joinable()) return true;
  std::unique_lock lock(state_->mutex);
  if (!state_->changed.wait_for(lock, timeout, [&] { return state_->finished; })) return false;
  lock.unlock();
  state_->thread.join();
  return true;
}

void ShardRunner::run(const std::shared_ptr<State>& state) {
  auto finish = [&] {
    std::lock_guard lock(state->mutex);
    state->finished = true;
    state->changed.notify_all();
  };

  StatusOr<std::unique_ptr<comm::CommBootstrap>> boot = comm::make_bootstrap(state->comm_spec);
  if (!boot.ok()) {
    state->notify([&] {
      state->callbacks.on_registration(boot.status().with_context("creating the data plane"));
    });
    return finish();
  }
  Registration registration{(*boot)->address(), 0.0};
  if (state->calibration) {
    StatusOr<double> speed = measure_speed(*state->calibration, state->stop.get_token());
    if (!speed.ok()) {
      state->notify([&] {
        state->callbacks.on_registration(speed.status().with_context("measuring this worker"));
      });
      return finish();
    }
    registration.speed = *speed;
  }
  state->notify([&] { state->callbacks.on_registration(std::move(registration)); });

  ShardAssignment assignment;
  {
    std::unique_lock lock(state->mutex);
    state->changed.wait(lock, [&] { return state->cancelled || state->assignment.has_value(); });
    if (state->cancelled) {
      lock.unlock();
      return finish();
    }
    assignment = std::move(*state->assignment);
  }

  // Declared out here so the endpoints stay open until the owner cancels (the job is over for
  // everyone): a peer still finishing its last step never sees this rank disappear.
  std::unique_ptr<comm::Communicator> comm;
  std::unique_ptr<comm::AuthenticatedComm> authenticated;  // wraps comm when keyed (not NCCL)
  std::unique_ptr<comm::FaultyComm> faulty;            // wraps those when the test asked for faults
  std::unique_ptr<comm::CancellableComm> cancellable;  // over those, but for NCCL
  std::unique_ptr<comm::CountingComm> counting;        // the outermost layer: the stats' source
  comm::TrafficMeter traffic;
  const std::stop_token stop = state->stop.get_token();
  auto result = [&]() -> StatusOr<ShardOutput> {
    ThreadPool pool(assignment.threads);
    // Chosen before connecting: a worker asked for a GPU it lacks fails here, before running.
    RM_ASSIGN_OR_RETURN(
        std::shared_ptr<attention::AttentionBackend> backend,
        make_attention_backend(assignment.device,
                               assignment.local_rank >= 0 ? assignment.local_rank : assignment.rank,
                               pool, stop, assignment.compute));
    RM_ASSIGN_OR_RETURN(comm, (*boot)->connect(assignment.rank, assignment.peer_addresses,
                                               assignment.step_timeout, assignment.job_id));
    comm::Communicator* inner = comm.get();
    if (assignment.data_plane_key && state->comm_spec.backend != comm::CommSpec::kNccl) {
      authenticated = std::make_unique<comm::AuthenticatedComm>(
          *comm, *assignment.data_plane_key, assignment.job_name, assignment.epoch);
      inner = authenticated.get();
    }
    if (assignment.faults.any()) {
      faulty = std::make_unique<comm::FaultyComm>(*inner, assignment.faults);
      inner = faulty.get();
    }
    // NcclComm aborts itself when a wait reaches its deadline, so its waits cannot be sliced
    // (comm/cancellable_comm.h): an NCCL data plane stops at the step deadline or, on an abort,
    // at the owner's grace. Every other backend's waits stop within a poll slice.
    if (state->comm_spec.backend != comm::CommSpec::kNccl) {
      cancellable = std::make_unique<comm::CancellableComm>(*inner, stop);
    }
    counting = std::make_unique<comm::CountingComm>(
        cancellable ? static_cast<comm::Communicator&>(*cancellable) : *inner, traffic);
    comm::Communicator& data_plane = *counting;
    if (assignment.model) {
      auto progress = [&](int block, int) {
        state->notify([&] {
          if (state->callbacks.on_progress) state->callbacks.on_progress(block + 1);
        });
      };
      RM_ASSIGN_OR_RETURN(model::ShardBackends backends, make_model_backends(backend, pool));
      // Steps can take milliseconds: report the first, then at most 5 a second.
      auto last = std::chrono::steady_clock::time_point{};
      auto decode_progress = [&](int64_t step, int64_t tokens) {
        const auto now = std::chrono::steady_clock::now();
        if (step > 0 && now - last < std::chrono::milliseconds(200)) return;
        last = now;
        state->notify([&] {
          if (state->callbacks.on_decode_progress) {
            state->callbacks.on_decode_progress(step + 1, tokens);
          }
        });
      };
      if (assignment.generate) {
        RM_ASSIGN_OR_RETURN(
            GenerateShardResult generated,
            run_generate_shard(data_plane, *assignment.plan, *assignment.model,
                               *assignment.generate, pool, progress, decode_progress,
                               std::move(backends), stop, &traffic));
        generated.stats = traffic_stats(generated.stats.wall_s, traffic);
        return ShardOutput(std::move(generated));
      }
      // A variants job's branch steps (worker/branches.h) report as decode steps.
      auto branch_progress = [&](int64_t step, int64_t) { decode_progress(step - 1, 0); };
      RM_ASSIGN_OR_RETURN(
          ShardResult rows,
          run_model_shard(data_plane, *assignment.plan, *assignment.model, pool, progress,
                          branch_progress, std::move(backends), stop, &traffic));
      rows.stats = traffic_stats(rows.stats.wall_s, traffic);
      return ShardOutput(std::move(rows));
    }
    const Device data_device =
        check_data_on_device(*backend, state->comm_spec, assignment.plan->world())
            ? backend->device()
            : Device::cpu();
    spdlog::info(
        "rank {} of {}: running the attention check on {} of {} tokens, {} thread(s), on {} "
        "(data on {})",
        assignment.rank, assignment.plan->world(), assignment.plan->num_local(assignment.rank),
        assignment.plan->num_tokens(), assignment.threads, backend->name(),
        data_device.to_string());
    auto checked = [&] {
      const comm::TrafficMeter::Phase phase(&traffic, "attention");
      return attention::run_check_job(data_plane, *assignment.plan, *assignment.check, *backend,
                                      data_device);
    };
    RM_ASSIGN_OR_RETURN(attention::CheckJobResult check, checked());
    ShardResult shard;
    shard.rows = std::move(check.tokens);
    shard.values = std::move(check.out);
    shard.stats = traffic_stats(check.stats.wall_s, traffic);
    return ShardOutput(std::move(shard));
  }();
  state->notify([&] { state->callbacks.on_result(std::move(result)); });
  {
    std::unique_lock lock(state->mutex);
    state->changed.wait(lock, [&] { return state->cancelled; });
  }
  counting.reset();
  cancellable.reset();
  faulty.reset();
  authenticated.reset();
  comm.reset();
  finish();
}

}  // namespace ringmaster::worker
