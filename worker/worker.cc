#include "worker/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "core/printable.h"
#include "core/process_memory.h"
#include "proto/convert.h"
#include "proto/validate.h"
#include "worker/job_spec.h"
#include "worker/result_streamer.h"
#include "worker/shard_runner.h"

namespace ringmaster::worker {

namespace {

namespace asio = boost::asio;
using proto::MessageType;
using proto::type_bit;

constexpr proto::TypeSet kFromCoordinator =
    type_bit(MessageType::kHeartbeat) | type_bit(MessageType::kAssignment) |
    type_bit(MessageType::kAbort) | type_bit(MessageType::kDone) | type_bit(MessageType::kError) |
    type_bit(MessageType::kRestart);

std::string local_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// One worker's session with the coordinator. Everything runs on strand_, except the shard
// thread, whose callbacks are posted here.
class Worker {
 public:
  Worker(asio::io_context& io, const proto::JobToken& token, const WorkerOptions& options)
      : io_(io),
        strand_(asio::make_strand(io)),
        options_(options),
        host_(options.host.empty() ? local_host_name() : options.host),
        pid_(::getpid()),
        token_(token),
        client_(strand_, token, options.coordinator_host, options.coordinator_port, host_, pid_,
                options.job_id, options.connect),
        tick_timer_(strand_),
        signals_(strand_) {}

  void start() {
    asio::post(strand_, [this] {
      if (options_.handle_signals) {
        signals_.add(SIGINT);
        signals_.add(SIGTERM);
        signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
          if (ec) return;
          end(WorkerExit::kCancelled, cancelled(std::string("stopped by ") +
                                                (signal_number == SIGINT ? "SIGINT" : "SIGTERM")));
        });
      }
      client_.start([this](ConnectResult result) { on_joined(std::move(result)); });
    });
  }

  WorkerOutcome finish() {
    // io.run() has returned: the shard thread may still be computing or closing endpoints.
    const auto deadline = std::chrono::steady_clock::now() + options_.abort_grace;
    if (runner_) retired_.push_back(std::move(runner_));
    for (const std::unique_ptr<ShardRunner>& runner : retired_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!runner->wait_for(std::max(left, std::chrono::milliseconds(0)))) {
        spdlog::error("a shard thread did not stop within {} ms of the end of the job",
                      options_.abort_grace.count());
        outcome_.abandoned_thread = true;
      }
    }
    return outcome_;
  }

 private:
  // kFailedAttempt: this rank's shard failed in a job that may restart (Welcome.max_restarts);
  // it keeps heartbeating and waits for Restart or Abort.
  enum class Stage {
    kJoining,
    kRegistering,
    kWaitingJob,
    kRunning,
    kStreaming,
    kVerdict,
    kFailedAttempt,
    kEnded
  };

  std::string who() const {
    return rank_ >= 0 ? "rank " + std::to_string(rank_) : "worker pid " + std::to_string(pid_);
  }

  void on_joined(ConnectResult result) {
    if (stage_ == Stage::kEnded) return;
    if (!result.status.ok()) {
      const WorkerExit exit = result.auth_failed ? WorkerExit::kAuthFailed
                              : result.status.code() == StatusCode::kDeadlineExceeded
                                  ? WorkerExit::kTimeout
                                  : WorkerExit::kFailed;
      return end(exit, result.status);
    }
    connection_ = std::move(result.connection);
    welcome_ = std::move(result.welcome);
    connection_->set_accepted(kFromCoordinator);
    connection_->set_handlers([this](proto::Frame frame) { on_frame(std::move(frame)); },
                              [this](const Status& reason) {
                                end(WorkerExit::kCoordinatorLost,
                                    unavailable("lost the coordinator: " + reason.message()));
                              });
    tick();
    StatusOr<comm::CommSpec> comm_spec = proto::to_comm_spec(welcome_.comm());
    if (!comm_spec.ok()) return fail(comm_spec.status());
    comm_spec->local_rank = options_.local_rank;
    // A hung ncclCommAbort then keeps the shard thread past abort_grace, so finish() reports
    // abandoned_thread and the process leaves with _exit (RELIABILITY.md: abort has a deadline).
    comm_spec->nccl_abort_timeout = 2 * options_.abort_grace + std::chrono::seconds(5);
    comm_spec_ = std::move(comm_spec).value();
    start_runner();
  }

  // A new shard thread (and data-plane endpoint) for the current epoch; it registers once the
  // endpoint has its address.
  void start_runner() {
    stage_ = Stage::kRegistering;
    ShardRunner::Callbacks callbacks;
    callbacks.on_registration = [this](StatusOr<Registration> registration) {
      asio::post(strand_, [this, registration = std::move(registration)]() mutable {
        on_registration(std::move(registration));
      });
    };
    callbacks.on_progress = [this](int blocks_done) {
      asio::post(strand_, [this, blocks_done] { on_progress(blocks_done); });
    };
    callbacks.on_decode_progress = [this](int64_t steps, int64_t tokens) {
      asio::post(strand_, [this, steps, tokens] { on_decode_progress(steps, tokens); });
    };
    callbacks.on_result = [this](StatusOr<ShardOutput> output) {
      asio::post(strand_,
                 [this, output = std::move(output)]() mutable { on_result(std::move(output)); });
    };
    runner_ = std::make_unique<ShardRunner>(comm_spec_, calibration(), std::move(callbacks));
    runner_->start();
  }

  // The coordinator restarts the job: drop this attempt's shard and register again.
  void on_restart(const proto::Frame& frame) {
    StatusOr<pb::Restart> restart = proto::decode_frame<pb::Restart>(frame);
    if (!restart.ok()) return fail(restart.status().with_context("bad Restart"));
    if (welcome_.max_restarts() == 0 || restart->epoch() <= epoch_) {
      return fail(
          invalid_argument("unexpected Restart for epoch " + std::to_string(restart->epoch())));
    }
    spdlog::warn("{}: restarting as attempt {}: {}", who(), restart->epoch(),
                 printable(restart->reason()));
    epoch_ = restart->epoch();
    streamer_.reset();
    // The failed attempt's thread is cancelled (it stops at its next tile or poll, its callbacks
    // off) and not waited for; the new attempt gets a fresh thread and endpoint.
    retire_runner();
    start_runner();
  }

  void retire_runner() {
    if (!runner_) return;
    runner_->cancel();
    if (!runner_->wait_for(std::chrono::milliseconds(0))) {
      spdlog::warn("{}: the previous attempt's shard thread is still running; leaving it", who());
    }
    retired_.push_back(std::move(runner_));
  }

  // Whether this Register carries a speed: the first of a --rank-weights auto job (a restarted
  // attempt keeps the first attempt's weights).
  bool registers_speed() const { return epoch_ == 0 && welcome_.calibration().d_model() > 0; }

  // What the shard thread measures before that Register, unless a test gave this worker its
  // speed.
  std::optional<CalibrationSpec> calibration() const {
    if (!registers_speed() || options_.testing_speed > 0) return std::nullopt;
    return calibration_spec_of(welcome_.calibration(), options_.local_rank);
  }

  void on_registration(StatusOr<Registration> registration) {
    if (stage_ != Stage::kRegistering) return;
    if (!registration.ok()) return fail(registration.status());
    const std::vector<std::byte>& address = registration->address;
    pb::Register reg;
    reg.set_host(host_);
    reg.set_pid(pid_);
    reg.set_rank_hint(options_.rank_hint);
    reg.set_comm_address(reinterpret_cast<const char*>(address.data()), address.size());
    reg.set_epoch(epoch_);
    if (registers_speed()) {
      reg.set_speed(options_.testing_speed > 0 ? options_.testing_speed : registration->speed);
      spdlog::info("{}: {:.0f} rows/s through a block's MLP{}", who(), reg.speed(),
                   options_.testing_speed > 0 ? " (given by RINGMASTER_TESTING_SPEEDS)" : "");
    }
    stage_ = Stage::kWaitingJob;
    (void)connection_->send_message(reg);
  }

  void on_frame(proto::Frame frame) {
    if (stage_ == Stage::kEnded) return;
    switch (frame.type) {
      case MessageType::kHeartbeat:
        return;  // last_receive() already moved
      case MessageType::kAssignment:
        return on_assignment(frame);
      case MessageType::kRestart:
        return on_restart(frame);
      case MessageType::kAbort: {
        StatusOr<pb::Abort> abort = proto::decode_frame<pb::Abort>(frame);
        return end(WorkerExit::kFailed,
                   cancelled("the coordinator aborted the job: " +
                             (abort.ok() ? printable(abort->reason()) : abort.status().message())));
      }
      case MessageType::kDone:
        if (stage_ == Stage::kWaitingJob && rank_ < 0) {
          spdlog::info("{}: the job succeeded without this spare", who());
          return end(WorkerExit::kOk, ok_status());
        }
        if (stage_ != Stage::kVerdict) {
          return end(WorkerExit::kFailed, internal_error("Done from the coordinator before this "
                                                         "worker finished"));
        }
        spdlog::info("{}: the job succeeded", who());
        return end(WorkerExit::kOk, ok_status());
      case MessageType::kError: {
        StatusOr<pb::Error> error = proto::decode_frame<pb::Error>(frame);
        return end(WorkerExit::kFailed, error.ok() ? proto::from_pb_error(*error) : error.status());
      }
      default:
        return;
    }
  }

  void on_assignment(const proto::Frame& frame) {
    if (stage_ != Stage::kWaitingJob) return fail(internal_error("unexpected Assignment"));
    StatusOr<pb::Assignment> assignment = proto::decode_frame<pb::Assignment>(frame);
    Status status = assignment.ok() ? proto::validate_assignment(*assignment) : assignment.status();
    if (status.ok() && assignment->job().job_id() != welcome_.job_id()) {
      status = invalid_argument("Assignment for job " + printable(assignment->job().job_id()) +
                                ", welcomed to job " + printable(welcome_.job_id()));
    }
    // A spare, registered at epoch 0, first works in whichever attempt needs it.
    if (status.ok() && rank_ < 0 && assignment->epoch() > epoch_) epoch_ = assignment->epoch();
    if (status.ok() && assignment->epoch() != epoch_) {
      status = invalid_argument("Assignment for attempt " + std::to_string(assignment->epoch()) +
                                ", registered for " + std::to_string(epoch_));
    }
    if (!status.ok()) return fail(status.with_context("bad Assignment"));
    const pb::JobSpec& job = assignment->job();
    ShardAssignment shard;
    shard.rank = assignment->rank();
    for (const pb::Peer& peer : assignment->peers()) {
      const auto* bytes = reinterpret_cast<const std::byte*>(peer.comm_address().data());
      shard.peer_addresses.emplace_back(bytes, bytes + peer.comm_address().size());
    }
    StatusOr<comm::PartitionPlan> plan = proto::to_partition_plan(job);
    if (!plan.ok()) return fail(plan.status());
    if (job.has_model()) {
      ModelShardSpec model;
      model.model_dir = job.model().model_dir();
      // A variants job is a score job whose records also branch (worker/branches.h).
      model.score = job.model().task() == pb::TASK_SCORE || job.model().task() == pb::TASK_VARIANTS;
      for (const pb::Branch& b : job.model().branches()) {
        model.branches.push_back(
            {b.record(), b.base(), std::vector<int32_t>(b.tokens().begin(), b.tokens().end())});
      }
      model.context_parallel = context_parallel_of(job);
      model.record_lengths.assign(job.model().record_lengths().begin(),
                                  job.model().record_lengths().end());
      model.input_ids.assign(assignment->input_ids().begin(), assignment->input_ids().end());
      model.next_after_range.assign(assignment->next_after_range().begin(),
                                    assignment->next_after_range().end());
      shard.model = std::move(model);
      if (job.model().task() == pb::TASK_GENERATE) shard.generate = generate_spec_of(job);
    } else {
      StatusOr<attention::CheckJobSpec> spec = check_job_spec_of(job);
      if (!spec.ok()) return fail(spec.status());
      shard.check = *spec;
    }
    shard.plan = std::move(plan).value();
    shard.threads = job.threads();
    shard.step_timeout = std::chrono::milliseconds(job.step_timeout_ms());
    shard.device = compute_device_of(job);
    shard.compute = compute_dtype_of(job);
    if (shard.model) shard.model->compute = shard.compute;
    // The same GPU NcclComm picks (local rank mod devices), so the backend's data is where the
    // communicator expects it.
    shard.local_rank = options_.local_rank;
    const auto* job_id = reinterpret_cast<const std::byte*>(assignment->nccl_unique_id().data());
    shard.job_id.assign(job_id, job_id + assignment->nccl_unique_id().size());
    shard.data_plane_key = comm::derive_data_plane_key(
        token_.secret(), job.job_id(), assignment->epoch(), assignment->data_plane_nonce());
    shard.job_name = job.job_id();
    shard.epoch = assignment->epoch();
    if (shard.rank == options_.testing_silent_rank) {
      shard.faults.drop_sends = true;
      spdlog::warn("rank {}: testing fault: data-plane sends are dropped", shard.rank);
    }
    rank_ = shard.rank;
    job_ = job;
    stage_ = Stage::kRunning;
    spdlog::info("assigned rank {} of {} (job {})", rank_, job.world(), printable(job.job_id()));
    runner_->assign(std::move(shard));
  }

  void on_progress(int blocks_done) {
    if (stage_ != Stage::kRunning) return;
    pb::Progress progress;
    progress.set_rank(rank_);
    progress.set_blocks_done(blocks_done);
    progress.set_epoch(epoch_);
    (void)connection_->send_message(progress);
  }

  void on_decode_progress(int64_t steps, int64_t tokens) {
    if (stage_ != Stage::kRunning) return;
    pb::Progress progress;
    progress.set_rank(rank_);
    progress.set_blocks_done(job_.model().num_blocks());
    progress.set_decode_steps(steps);
    progress.set_generated_tokens(tokens);
    progress.set_epoch(epoch_);
    (void)connection_->send_message(progress);
  }

  void on_result(StatusOr<ShardOutput> output) {
    if (stage_ != Stage::kRunning) return;
    if (!output.ok()) return fail_attempt(output.status());
    stage_ = Stage::kStreaming;
    if (auto* generated = std::get_if<GenerateShardResult>(&*output)) {
      spdlog::info("{}: generated {} records: prefill {:.3f} s, {} decode steps in {:.3f} s", who(),
                   generated->records.size(), generated->prefill_s, generated->decode_steps,
                   generated->decode_s);
      streamer_.emplace(std::move(*generated), rank_, job_.result_chunk_bytes());
    } else {
      streamer_.emplace(std::get<ShardResult>(std::move(*output)), rank_,
                        proto::result_row_bytes(job_), job_.result_chunk_bytes());
    }
    const ShardStats& stats = streamer_->stats();
    spdlog::info(
        "{}: computed {} rows in {:.3f} s (compute {:.3f} s, wait {:.3f} s, {} bytes sent, {} "
        "received); sending",
        who(), streamer_->rows(), stats.wall_s, stats.compute_s, stats.wait_s, stats.bytes_sent,
        stats.bytes_received);
    stream_next();
  }

  // Sends one chunk, and the next once it has left the socket; then Done.
  void stream_next() {
    if (stage_ != Stage::kStreaming) return;
    if (std::optional<pb::ResultChunk> chunk = streamer_->next()) {
      chunk->set_epoch(epoch_);
      if (!connection_->send_message(*chunk).ok()) return;  // closed: on_close ends the worker
      connection_->when_drained([this] { stream_next(); });
      return;
    }
    pb::Done done;
    done.set_rank(rank_);
    done.set_rows(streamer_->rows());
    done.set_wall_s(streamer_->stats().wall_s);
    done.set_compute_s(streamer_->stats().compute_s);
    done.set_wait_s(streamer_->stats().wait_s);
    done.set_bytes_sent(streamer_->stats().bytes_sent);
    done.set_bytes_received(streamer_->stats().bytes_received);
    for (const PhaseStats& p : streamer_->stats().phases) {
      pb::PhaseTelemetry* phase = done.add_phases();
      phase->set_name(p.name);
      phase->set_blocks(p.blocks);
      phase->set_wall_s(p.wall_s);
      phase->set_compute_s(p.compute_s);
      phase->set_wait_s(p.wait_s);
      phase->set_bytes_sent(p.bytes_sent);
      phase->set_bytes_received(p.bytes_received);
    }
    done.set_peak_rss_bytes(static_cast<int64_t>(peak_rss_mib() * 1024.0 * 1024.0));
    done.set_prefill_s(streamer_->prefill_s());
    done.set_decode_s(streamer_->decode_s());
    done.set_epoch(epoch_);
    stage_ = Stage::kVerdict;
    (void)connection_->send_message(done);
  }

  void tick() {
    if (stage_ == Stage::kEnded) return;
    const auto dead_after = std::chrono::milliseconds(welcome_.heartbeat().dead_after_ms());
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - connection_->last_receive());
    if (silent > dead_after) {
      return end(WorkerExit::kCoordinatorLost,
                 unavailable("the coordinator missed heartbeats: silent for " +
                             std::to_string(silent.count()) + " ms (dead after " +
                             std::to_string(dead_after.count()) + " ms)"));
    }
    pb::Heartbeat heartbeat;
    heartbeat.set_seq(++heartbeat_seq_);
    (void)connection_->send_message(heartbeat);
    tick_timer_.expires_after(std::chrono::milliseconds(welcome_.heartbeat().interval_ms()));
    tick_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  // This worker's own failure: tell the coordinator, then end.
  void fail(const Status& status) {
    if (stage_ == Stage::kEnded) return;
    if (connection_) {
      pb::Error error = proto::to_pb_error(status, rank_, host_, pid_);
      error.set_epoch(epoch_);
      (void)connection_->send_message(error);
    }
    end(WorkerExit::kFailed, status);
  }

  // This rank's shard failed. In a job that may restart, report it and wait for the coordinator's
  // verdict (often a peer died and the job goes on without it); otherwise end as fail() does.
  void fail_attempt(const Status& status) {
    if (welcome_.max_restarts() == 0) return fail(status);
    spdlog::error("{}: attempt {} failed: {}", who(), epoch_, status.to_string());
    pb::Error error = proto::to_pb_error(status, rank_, host_, pid_);
    error.set_epoch(epoch_);
    (void)connection_->send_message(error);
    stage_ = Stage::kFailedAttempt;
  }

  void end(WorkerExit exit, const Status& status) {
    if (stage_ == Stage::kEnded) return;
    stage_ = Stage::kEnded;
    outcome_.exit = exit;
    outcome_.status = status;
    if (exit != WorkerExit::kOk) spdlog::error("{}: {}", who(), status.to_string());
    client_.stop();
    tick_timer_.cancel();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    // No shard callback can arrive after this; the thread finishes or is abandoned in finish().
    if (runner_) runner_->cancel();
    for (const std::unique_ptr<ShardRunner>& runner : retired_) runner->cancel();
    if (!connection_ || connection_->closed()) return io_.stop();
    connection_->set_handlers([](proto::Frame) {}, [this](const Status&) { io_.stop(); });
    connection_->close_after_flush(status, std::chrono::milliseconds(1000));
  }

  asio::io_context& io_;
  Strand strand_;
  const WorkerOptions& options_;
  std::string host_;
  int64_t pid_;
  const proto::JobToken& token_;  // run_worker's; outlives this; keys the data plane
  ControlClient client_;
  asio::steady_timer tick_timer_;
  asio::signal_set signals_;

  Stage stage_ = Stage::kJoining;
  std::shared_ptr<proto::Connection> connection_;
  pb::Welcome welcome_;
  pb::JobSpec job_;
  int rank_ = -1;
  uint64_t heartbeat_seq_ = 0;
  comm::CommSpec comm_spec_;
  uint32_t epoch_ = 0;
  std::unique_ptr<ShardRunner> runner_;
  // Shard threads of failed attempts, cancelled and kept until the worker ends (their destructors
  // detach a thread that has not stopped).
  std::vector<std::unique_ptr<ShardRunner>> retired_;
  std::optional<ResultStreamer> streamer_;
  WorkerOutcome outcome_;
};

}  // namespace

WorkerOutcome run_worker(const proto::JobToken& token, const WorkerOptions& options) {
  asio::io_context io(1);
  Worker worker(io, token, options);
  worker.start();
  io.run();
  return worker.finish();
}

}  // namespace ringmaster::worker
