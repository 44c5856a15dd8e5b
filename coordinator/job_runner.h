// coordinator/job_runner.h: one job's life on the coordinator, from the first registered worker
// to the output file or the abort.
//
//   joining   authenticated workers Register (host, pid, rank hint, comm address); the join
//             timeout fails the job naming the missing ranks
//   running   with all P in, ranks are assigned (Registry), a --rank-weights auto job is cut
//             for the speeds the workers registered with, and each worker gets its Assignment
//             (rank, peer table, job, and for a model job its tokens); Progress feeds the
//             progress line; ResultChunks flow into the ResultAssembler; each worker ends with
//             Done
//   finishing every row is in: the JobOutput writes (off the strand, so heartbeats go on) and
//             commits, then Done goes to every worker
//   failed    any failure: Abort goes to every worker, nothing is written
//
// Fail-stop (RELIABILITY.md 3.1): a registered worker whose connection drops, that stays silent
// past the dead deadline, that breaks the protocol, or that reports an Error ends the job. When a
// worker reports an Error (often "my peer is gone"), the runner waits `attribution_window` for a
// connection loss that explains it, so the failure names the worker that died, not the survivor
// that noticed.
//
// Recovery (opt-in, max_restarts > 0): a failed attempt (a worker lost or silent, or a worker's
// Error) is restarted instead of failing the job, while restarts are left: the lost worker's
// connection is closed (fenced), a spare takes its rank, the survivors get Restart and register
// again with fresh data-plane addresses, and every rank gets a new Assignment for the next epoch.
// Rows, Done and Progress of an older epoch are dropped, so the output holds only the last
// attempt's rows, which are the same bytes a fault-free run computes (every rank's work is
// deterministic). With no restart or no spare left, the job fails as above.
//
// Heartbeats: every `heartbeat_interval` a Heartbeat goes to each adopted connection, and any
// frame from a worker counts as its sign of life (HeartbeatMonitor).
//
// Ownership: owns the adopted connections and the assembled output. Thread-safety: every method
// and handler runs on the strand given at construction; the runner must outlive io_context::run().
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/heartbeat_monitor.h"
#include "coordinator/job_output.h"
#include "coordinator/progress_line.h"
#include "coordinator/registry.h"
#include "coordinator/result_assembler.h"
#include "coordinator/server.h"
#include "core/status.h"
#include "proto/connection.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

struct JobKnobs {
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds dead_after{5000};
  std::chrono::milliseconds join_timeout{120000};
  // How long Abort / Done frames may take to flush before connections are cut.
  std::chrono::milliseconds flush_timeout{2000};
  std::chrono::milliseconds attribution_window{250};
  int max_restarts = 0;  // restarted attempts allowed (0: fail-stop)
  int spares = 0;        // workers beyond `world` that stand by to replace a lost one
};

// What follows from how a job's tokens are cut over its ranks: the job starts with one, and a
// --rank-weights auto job gets another once its workers' speeds are in.
struct JobCut {
  ResultAssembler assembler;
  std::vector<int64_t> rank_tokens;  // as JobParts.rank_tokens
  int64_t busiest_rank_bytes = 0;    // model jobs: the estimate of the heaviest rank's peak
};

// What a job brings besides its spec and assembler.
struct JobParts {
  std::unique_ptr<JobOutput> output;
  // Model jobs: puts a rank's tokens into its Assignment. Empty for the attention check.
  std::function<void(int rank, pb::Assignment& assignment)> fill_assignment;
  ProgressMode progress = ProgressMode::kNone;  // model jobs only
  std::vector<int64_t> rank_tokens;             // tokens per rank (the progress line, the log)
  // --rank-weights auto: what each worker times before it registers (Welcome.calibration), and
  // how the job is cut again once every rank's speed is in: `reweight` gets the spec with
  // rank_weights filled in, completes it and re-plans what fill_assignment reads. A cut that fails
  // or passes the spec's max_rank_tokens is tried again with weights nearer equal.
  pb::Calibration calibration;
  std::function<StatusOr<JobCut>(pb::JobSpec& job)> reweight;
};

class JobRunner {
 public:
  // Called once, when the outcome is decided and every connection is closed (or flush_timeout
  // passed): OK iff the output file is in place.
  using FinishedHandler = std::function<void(const Status& outcome)>;

  // `job` must be valid (validate_job_spec); its `comm` is what workers build their data plane
  // with, and `knobs` come from it (with the coordinator's own flush timeout).
  JobRunner(Strand strand, pb::JobSpec job, JobKnobs knobs, ResultAssembler assembler,
            JobParts parts, FinishedHandler on_finished);
  // Waits for an output write in flight; the JobOutput then removes what was not committed.
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the join timeout and the heartbeat tick.
  void start();
  // Takes over an authenticated connection: sends Welcome and waits for its Register.
  void adopt(std::shared_ptr<proto::Connection> connection, const pb::Hello& hello);
  // Stops the job (a signal, a shutdown): Abort to every worker, outcome `reason`.
  void cancel(const Status& reason) { fail(reason); }

 private:
  enum class Phase { kJoining, kRunning, kRestarting, kFinishing, kSucceeded, kFailed };

  struct Session {
    std::shared_ptr<proto::Connection> connection;
    pb::Hello hello;
    int worker = -1;                      // Registry index once registered
    int rank = -1;                        // once assigned; -1 for a standing-by spare
    std::vector<std::byte> comm_address;  // for the current epoch
    double speed = 0;                     // rows/s, registered in a --rank-weights auto job
    bool ready = false;                   // has registered for the current epoch
    bool done = false;
    bool reported_error = false;
  };

  void on_frame(int id, proto::Frame frame);
  void on_register(int id, Session& session, const proto::Frame& frame);
  void on_result(Session& session, const proto::Frame& frame);
  void on_done(Session& session, const proto::Frame& frame);
  void on_progress(Session& session, const proto::Frame& frame);
  void on_worker_error(int id, Session& session, const proto::Frame& frame);
  void on_closed(int id, const Status& reason);
  void assign_and_start();
  // --rank-weights auto: weights from the ranked sessions' speeds, and the job cut for them.
  void apply_measured_weights();
  // Sends every ranked session its Assignment for epoch_; phase_ becomes kRunning.
  void send_assignments();
  // A failed attempt: restart it while restarts last, a spare taking `vacant_rank` (-1: every
  // rank keeps its worker); otherwise, or with no spare for the vacant rank, fail the job.
  void attempt_failed(Status reason, int vacant_rank);
  // The attribution window passed with reported_error_ the first report. A worker's own failure
  // (not a peer's: unavailable, deadline exceeded, cancelled) would repeat in the next attempt,
  // so while a spare stands by the reporter is fenced and the spare takes its rank; otherwise
  // the attempt restarts with the same workers.
  void attribute_reported_error();
  // Drops a message of an older attempt; true when it was one.
  bool stale(const Session& session, uint32_t epoch, const char* what) const;
  void tick();
  void succeed();
  void on_written(const Status& status);
  // By value: callers pass members (reported_error_) that these reset.
  void fail(Status reason);
  void finish(Status outcome, const pb::Abort* abort);
  void maybe_finished();
  std::string describe(const Session& session) const;
  // "while running its shard", ...: where the job was when a worker was lost.
  const char* phase_name() const;

  Strand strand_;
  pb::JobSpec job_;
  JobKnobs knobs_;
  ResultAssembler assembler_;
  JobParts parts_;
  std::optional<ProgressLine> progress_;
  std::vector<io::WorkerPeak> peaks_;           // by rank, from Done
  std::vector<io::WorkerTelemetry> telemetry_;  // by rank, from Done
  std::vector<double> rank_speeds_;             // --rank-weights auto: by rank, once applied
  FinishedHandler on_finished_;

  Phase phase_ = Phase::kJoining;
  uint32_t epoch_ = 0;
  int restarts_left_ = 0;
  Registry registry_;
  HeartbeatMonitor monitor_;
  std::map<int, Session> sessions_;
  int next_id_ = 0;
  uint64_t heartbeat_seq_ = 0;
  int workers_done_ = 0;
  std::chrono::steady_clock::time_point started_;

  // A worker's Error waiting for attribution_window to see whether another worker died first.
  std::optional<Status> reported_error_;
  int reported_session_ = -1;  // the session that sent reported_error_
  boost::asio::steady_timer join_timer_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer attribution_timer_;
  boost::asio::steady_timer flush_timer_;
  std::optional<Status> outcome_;
  bool finished_called_ = false;
  // The output is written on its own thread, so heartbeats keep flowing during a long write.
  std::thread writer_;
};

}  // namespace ringmaster::coordinator
