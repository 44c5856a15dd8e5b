#include "coordinator/job_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdio>

#include "comm/authenticated_comm.h"
#include "coordinator/rank_speeds.h"
#include "core/printable.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {

namespace {

using proto::MessageType;
using proto::type_bit;

// What a worker may send in each stage of its session.
constexpr proto::TypeSet kBeforeRegister = type_bit(MessageType::kRegister) |
                                           type_bit(MessageType::kHeartbeat) |
                                           type_bit(MessageType::kError);
constexpr proto::TypeSet kWaitingForJob =
    type_bit(MessageType::kHeartbeat) | type_bit(MessageType::kError);
constexpr proto::TypeSet kRunningJob = kWaitingForJob | type_bit(MessageType::kResultChunk) |
                                       type_bit(MessageType::kDone) |
                                       type_bit(MessageType::kProgress);
// A restarting survivor registers again; frames of the failed attempt may still be in flight.
constexpr proto::TypeSet kRestartingJob = kRunningJob | type_bit(MessageType::kRegister);

std::string join_ints(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(values[i]);
  }
  return out;
}

// A Done's telemetry, checked: a peer's numbers are data, never trusted (ARCHITECTURE.md).
// Errors (kInvalidArgument): a time or byte count negative or not finite, too many phases, a
// phase name that is not a short lower-case word.
constexpr int kMaxPhases = 16;
constexpr size_t kMaxPhaseNameBytes = 32;

StatusOr<io::WorkerTelemetry> telemetry_of(const pb::Done& done) {
  auto bad = [](const std::string& what) { return invalid_argument("Done: " + what); };
  auto seconds_ok = [](double s) { return std::isfinite(s) && s >= 0; };
  io::WorkerTelemetry t;
  t.rank = done.rank();
  t.wall_s = done.wall_s();
  t.compute_s = done.compute_s();
  t.wait_s = done.wait_s();
  t.bytes_sent = done.bytes_sent();
  t.bytes_received = done.bytes_received();
  if (!seconds_ok(t.wall_s) || !seconds_ok(t.compute_s) || !seconds_ok(t.wait_s) ||
      t.bytes_sent < 0 || t.bytes_received < 0) {
    return bad("a time or byte count that is negative or not finite");
  }
  if (done.phases_size() > kMaxPhases) {
    return bad(std::to_string(done.phases_size()) + " phases (at most " +
               std::to_string(kMaxPhases) + ")");
  }
  for (const pb::PhaseTelemetry& p : done.phases()) {
    const std::string& name = p.name();
    if (name.empty() || name.size() > kMaxPhaseNameBytes ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      return bad("a phase named '" + printable(name, kMaxPhaseNameBytes) + "'");
    }
    if (!seconds_ok(p.wall_s()) || !seconds_ok(p.compute_s()) || !seconds_ok(p.wait_s()) ||
        p.blocks() < 0 || p.bytes_sent() < 0 || p.bytes_received() < 0) {
      return bad("phase " + name + ": a count that is negative or not finite");
    }
    t.phases.push_back({name, p.blocks(), p.wall_s(), p.compute_s(), p.wait_s(), p.bytes_sent(),
                        p.bytes_received()});
  }
  return t;
}

// "fit (1 block): compute 0.120 s, wait 0.010 s, 4096 bytes sent, 4096 received; ..."; the
// phases that are not a block kind ("decode", "other") without a count.
std::string describe_phases(const io::WorkerTelemetry& t) {
  std::string out;
  for (const io::PhaseTelemetry& p : t.phases) {
    if (!out.empty()) out += "; ";
    out += p.name;
    if (p.name != "decode" && p.name != "other") {
      out += " (" + std::to_string(p.blocks) + (p.blocks == 1 ? " block)" : " blocks)");
    }
    char line[160];
    std::snprintf(line, sizeof(line),
                  ": compute %.3f s, wait %.3f s, %lld bytes sent, %lld received", p.compute_s,
                  p.wait_s, static_cast<long long>(p.bytes_sent),
                  static_cast<long long>(p.bytes_received));
    out += line;
  }
  return out;
}

}  // namespace

JobRunner::JobRunner(Strand strand, pb::JobSpec job, JobKnobs knobs, ResultAssembler assembler,
                     JobParts parts, FinishedHandler on_finished)
    : strand_(strand),
      job_(std::move(job)),
      knobs_(knobs),
      assembler_(std::move(assembler)),
      parts_(std::move(parts)),
      on_finished_(std::move(on_finished)),
      registry_(job_.world(), knobs.max_restarts > 0 ? knobs.spares : 0),
      monitor_(knobs.dead_after),
      join_timer_(strand),
      tick_timer_(strand),
      attribution_timer_(strand),
      flush_timer_(strand) {
  restarts_left_ = knobs_.max_restarts;
}

void JobRunner::start() {
  started_ = std::chrono::steady_clock::now();
  join_timer_.expires_after(knobs_.join_timeout);
  join_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || phase_ != Phase::kJoining) return;
    const std::vector<int> missing = registry_.missing_ranks();
    fail(deadline_exceeded("join timeout after " + std::to_string(knobs_.join_timeout.count()) +
                           " ms: " + std::to_string(registry_.size()) + " of " +
                           std::to_string(registry_.world()) +
                           " workers registered; missing ranks: " + join_ints(missing)));
  });
  tick();
}

const char* JobRunner::phase_name() const {
  switch (phase_) {
    case Phase::kJoining:
      return "while the workers were joining";
    case Phase::kRunning:
      return "while running its shard";
    case Phase::kRestarting:
      return "while the job was restarting";
    case Phase::kFinishing:
      return "while the output was being written";
    case Phase::kSucceeded:
    case Phase::kFailed:
      break;
  }
  return "after the job ended";
}

std::string JobRunner::describe(const Session& session) const {
  if (session.worker >= 0) return describe_worker(registry_.worker(session.worker), session.rank);
  return "unregistered worker " + session.connection->peer_name() + " (host '" +
         printable(session.hello.host()) + "' pid " + std::to_string(session.hello.pid()) + ")";
}

void JobRunner::adopt(std::shared_ptr<proto::Connection> connection, const pb::Hello& hello) {
  const bool spare_wanted =
      (phase_ == Phase::kRunning || phase_ == Phase::kRestarting) &&
      registry_.size() < job_.world() + (restarts_left_ > 0 ? knobs_.spares : 0);
  if (phase_ != Phase::kJoining && !spare_wanted) {
    // Late or surplus workers are told why and let go; the job does not care about them.
    const Status reason =
        failed_precondition("job " + job_.job_id() + " is no longer accepting " +
                            "workers (it has its " + std::to_string(job_.world()) + ")");
    spdlog::warn("refusing {}: {}", connection->peer_name(), reason.message());
    (void)connection->send_message(proto::to_pb_error(reason, -1, "", 0));
    connection->close_after_flush(reason, knobs_.flush_timeout);
    return;
  }
  const int id = next_id_++;
  Session& session = sessions_[id];
  session.connection = connection;
  session.hello = hello;
  connection->set_accepted(kBeforeRegister);
  connection->set_handlers([this, id](proto::Frame frame) { on_frame(id, std::move(frame)); },
                           [this, id](const Status& reason) { on_closed(id, reason); });
  pb::Welcome welcome;
  welcome.set_job_id(job_.job_id());
  welcome.mutable_heartbeat()->set_interval_ms(
      static_cast<uint32_t>(knobs_.heartbeat_interval.count()));
  welcome.mutable_heartbeat()->set_dead_after_ms(static_cast<uint32_t>(knobs_.dead_after.count()));
  *welcome.mutable_comm() = job_.comm();
  welcome.set_max_restarts(static_cast<uint32_t>(knobs_.max_restarts));
  if (job_.rank_weights_auto()) *welcome.mutable_calibration() = parts_.calibration;
  (void)connection->send_message(welcome);
}

void JobRunner::on_frame(int id, proto::Frame frame) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = it->second;
  // Any frame is a sign of life, a Heartbeat or a result chunk alike.
  if (session.worker >= 0) monitor_.heard_from(id, std::chrono::steady_clock::now());
  // Finishing: every row is in; late frames cannot change the outcome any more.
  if (phase_ != Phase::kJoining && phase_ != Phase::kRunning && phase_ != Phase::kRestarting) {
    return;
  }
  switch (frame.type) {
    case MessageType::kHeartbeat:
      return;
    case MessageType::kRegister:
      return on_register(id, session, frame);
    case MessageType::kResultChunk:
      return on_result(session, frame);
    case MessageType::kDone:
      return on_done(session, frame);
    case MessageType::kProgress:
      return on_progress(session, frame);
    case MessageType::kError:
      return on_worker_error(id, session, frame);
    default:
      // The connection's type filter admits nothing else.
      return session.connection->close(
          internal_error(std::string("unexpected ") + proto::message_type_name(frame.type)));
  }
}

void JobRunner::on_register(int id, Session& session, const proto::Frame& frame) {
  StatusOr<pb::Register> reg = proto::decode_frame<pb::Register>(frame);
  Status status = reg.ok() ? proto::validate_register(*reg) : reg.status();
  // The address goes to every peer's transport (ucp_ep_create): check it against this job's.
  if (status.ok())
    status = proto::validate_comm_address(job_.comm().backend(), reg->comm_address());
  if (!status.ok()) return session.connection->close(status.with_context("bad Register"));
  const auto* address = reinterpret_cast<const std::byte*>(reg->comm_address().data());
  if (session.worker >= 0) {
    // A survivor answering Restart: it joins the new attempt with a fresh data-plane address.
    if (reg->epoch() < epoch_) return;  // answers a Restart that a later one replaced
    if (phase_ != Phase::kRestarting || reg->epoch() != epoch_ || session.rank < 0 ||
        session.ready) {
      return session.connection->close(failed_precondition("unexpected Register for epoch " +
                                                           std::to_string(reg->epoch()) + " from " +
                                                           describe(session)));
    }
    session.comm_address.assign(address, address + reg->comm_address().size());
    session.ready = true;
    spdlog::info("{} registered again for attempt {}", describe(session), epoch_);
    if (std::all_of(sessions_.begin(), sessions_.end(),
                    [](const auto& s) { return s.second.rank < 0 || s.second.ready; })) {
      send_assignments();
    }
    return;
  }
  if (reg->epoch() != 0) {
    return session.connection->close(
        failed_precondition("first Register for epoch " + std::to_string(reg->epoch())));
  }
  if (job_.rank_weights_auto() && reg->speed() <= 0) {
    return session.connection->close(
        failed_precondition("bad Register: no speed measured for --rank-weights auto"));
  }
  session.speed = reg->speed();
  WorkerInfo info;
  info.host = reg->host();
  info.pid = reg->pid();
  info.rank_hint = reg->rank_hint();
  info.comm_address.assign(address, address + reg->comm_address().size());
  info.peer_name = session.connection->peer_name();
  StatusOr<int> index = registry_.add(std::move(info));
  if (!index.ok()) return session.connection->close(index.status());
  session.worker = *index;
  session.comm_address = registry_.worker(*index).comm_address;
  session.ready = true;
  session.connection->set_accepted(kWaitingForJob);
  monitor_.heard_from(id, std::chrono::steady_clock::now());
  if (registry_.is_spare(*index)) {
    spdlog::info("registered {} from {} as a spare", describe(session),
                 session.connection->peer_name());
    return;
  }
  spdlog::info("registered {} from {} (rank hint {}); {} of {} workers", describe(session),
               session.connection->peer_name(), reg->rank_hint(), registry_.size(),
               registry_.world());
  if (registry_.full()) assign_and_start();
}

void JobRunner::assign_and_start() {
  const Registry::Assignment assignment = registry_.assign();
  for (const std::string& warning : assignment.warnings) spdlog::warn("{}", warning);
  for (auto& [id, session] : sessions_) {
    if (session.worker < 0 || registry_.is_spare(session.worker)) continue;
    session.rank = assignment.rank_of[static_cast<size_t>(session.worker)];
  }
  if (job_.rank_weights_auto() && job_.rank_weights().empty()) apply_measured_weights();
  send_assignments();
  const auto joined_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  spdlog::info("job {} running: {} workers joined in {} ms", job_.job_id(), job_.world(),
               joined_ms.count());
}

void JobRunner::apply_measured_weights() {
  std::vector<double> speeds(static_cast<size_t>(job_.world()), 0.0);
  for (const auto& [id, session] : sessions_) {
    if (session.rank >= 0) speeds[static_cast<size_t>(session.rank)] = session.speed;
  }
  const std::vector<double> measured = weights_from_speeds(speeds);
  // A cut giving a rank more tokens than fit its memory (--max-memory-per-worker:
  // max_rank_tokens), or one the planner refuses, moves the weights toward equal an eighth at a
  // time. The cap is read off the spec's plan, so only the cut taken builds its assembler. The last
  // step is the equal split, which planned (and fit) before the workers joined.
  std::optional<JobCut> cut;
  for (int step = 0; step <= kWeightSteps && !cut; ++step) {
    pb::JobSpec tried = job_;
    for (const double w : toward_equal(measured, step)) tried.add_rank_weights(w);
    const std::string weights = fmt::format("{}", fmt::join(tried.rank_weights(), ","));
    StatusOr<comm::PartitionPlan> plan = proto::to_partition_plan(tried);
    const int64_t cap = job_.max_rank_tokens();
    if (plan.ok() && cap > 0 && plan->max_local() > cap && step < kWeightSteps) {
      spdlog::info("job {}: weights {} put {} tokens on one rank, over the {} that fit in memory",
                   job_.job_id(), weights, plan->max_local(), cap);
      continue;
    }
    StatusOr<JobCut> tried_cut = parts_.reweight(tried);
    if (!tried_cut.ok()) {
      spdlog::warn("job {}: weights {} do not plan: {}", job_.job_id(), weights,
                   tried_cut.status().to_string());
      continue;
    }
    job_ = std::move(tried);
    cut = std::move(*tried_cut);
  }
  if (!cut.has_value()) {
    spdlog::warn("job {}: keeping the equal split", job_.job_id());
    return;
  }
  assembler_ = std::move(cut->assembler);
  parts_.rank_tokens = std::move(cut->rank_tokens);
  rank_speeds_ = speeds;
  std::string shares;
  for (size_t r = 0; r < speeds.size(); ++r) {
    char entry[128];
    std::snprintf(entry, sizeof entry, "%s%zu: %.0f rows/s, weight %g", r > 0 ? "; " : "", r,
                  speeds[r], job_.rank_weights(static_cast<int>(r)));
    shares += entry;
    shares += ", " + std::to_string(parts_.rank_tokens[r]) + " tokens";
  }
  spdlog::info(
      "job {}: measured speeds ({}){}", job_.job_id(), shares,
      cut->busiest_rank_bytes > 0
          ? "; about " + std::to_string(cut->busiest_rank_bytes >> 20) + " MiB on the busiest rank"
          : std::string());
}

void JobRunner::send_assignments() {
  std::vector<Session*> by_rank(static_cast<size_t>(job_.world()), nullptr);
  for (auto& [id, session] : sessions_) {
    if (session.rank >= 0) by_rank[static_cast<size_t>(session.rank)] = &session;
  }
  pb::Assignment message;
  message.set_world(job_.world());
  message.set_epoch(epoch_);
  // A fresh nonce per attempt: the workers derive this attempt's data-plane MAC key from it and
  // the job token (comm/authenticated_comm.h), so a stale or foreign block cannot pass.
  StatusOr<std::string> nonce = comm::make_data_plane_nonce();
  if (!nonce.ok()) return fail(nonce.status());
  message.set_data_plane_nonce(*nonce);
  *message.mutable_job() = job_;
  for (int r = 0; r < job_.world(); ++r) {
    const Session& session = *by_rank[static_cast<size_t>(r)];
    const WorkerInfo& info = registry_.worker(session.worker);
    pb::Peer* peer = message.add_peers();
    peer->set_rank(r);
    peer->set_host(info.host);
    peer->set_pid(info.pid);
    peer->set_comm_address(reinterpret_cast<const char*>(session.comm_address.data()),
                           session.comm_address.size());
  }
  phase_ = Phase::kRunning;
  join_timer_.cancel();
  if (job_.has_model() && parts_.progress != ProgressMode::kNone) {
    progress_.emplace(parts_.progress, parts_.rank_tokens, job_.model().num_blocks());
    if (job_.model().task() == pb::TASK_GENERATE) {
      progress_->expect_decode(job_.model().max_new_tokens());
    }
  }
  peaks_.assign(static_cast<size_t>(job_.world()), io::WorkerPeak{});
  telemetry_.assign(static_cast<size_t>(job_.world()), io::WorkerTelemetry{});
  for (Session* session : by_rank) {
    message.set_rank(session->rank);
    if (parts_.fill_assignment) parts_.fill_assignment(session->rank, message);
    session->connection->set_accepted(kRunningJob);
    if (Status status = session->connection->send_message(message); !status.ok()) {
      return fail(status.with_context("sending the Assignment to " + describe(*session)));
    }
  }
  if (epoch_ > 0) spdlog::info("job {}: attempt {} running", job_.job_id(), epoch_);
}

bool JobRunner::stale(const Session& session, uint32_t epoch, const char* what) const {
  if (epoch == epoch_ && phase_ != Phase::kRestarting) return false;
  spdlog::debug("dropping {} of attempt {} from {} (attempt {} now)", what, epoch,
                describe(session), epoch_);
  return true;
}

void JobRunner::on_result(Session& session, const proto::Frame& frame) {
  StatusOr<pb::ResultChunk> chunk = proto::decode_frame<pb::ResultChunk>(frame);
  if (!chunk.ok()) return fail(chunk.status().with_context(describe(session)));
  if (stale(session, chunk->epoch(), "rows")) return;
  if (session.done) {
    return fail(invalid_argument(describe(session) + " sent results after its Done"));
  }
  if (Status status = assembler_.add(session.rank, *chunk); !status.ok()) {
    return fail(status.with_context(describe(session)));
  }
}

void JobRunner::on_done(Session& session, const proto::Frame& frame) {
  StatusOr<pb::Done> done = proto::decode_frame<pb::Done>(frame);
  if (!done.ok()) return fail(done.status().with_context(describe(session)));
  if (stale(session, done->epoch(), "Done")) return;
  if (session.done || done->rank() != session.rank) {
    return fail(invalid_argument(describe(session) + " sent a second or misaddressed Done"));
  }
  if (Status status = assembler_.check_done(session.rank, *done); !status.ok()) {
    return fail(status.with_context(describe(session)));
  }
  session.done = true;
  ++workers_done_;
  io::WorkerPeak& peak = peaks_[static_cast<size_t>(session.rank)];
  peak.rank = session.rank;
  peak.host = registry_.worker(session.worker).host;
  peak.peak_rss_bytes = done->peak_rss_bytes();
  peak.prefill_s = done->prefill_s();
  peak.decode_s = done->decode_s();
  StatusOr<io::WorkerTelemetry> telemetry = telemetry_of(*done);
  if (!telemetry.ok()) return fail(telemetry.status().with_context(describe(session)));
  spdlog::info(
      "{} done: {} rows, wall {:.3f} s, compute {:.3f} s, wait {:.3f} s, {} bytes sent, {} "
      "received ({})",
      describe(session), done->rows(), done->wall_s(), done->compute_s(), done->wait_s(),
      done->bytes_sent(), done->bytes_received(), describe_phases(*telemetry));
  telemetry_[static_cast<size_t>(session.rank)] = std::move(telemetry).value();
  if (workers_done_ == job_.world() && assembler_.complete()) succeed();
}

void JobRunner::on_progress(Session& session, const proto::Frame& frame) {
  StatusOr<pb::Progress> progress = proto::decode_frame<pb::Progress>(frame);
  if (!progress.ok()) return fail(progress.status().with_context(describe(session)));
  if (stale(session, progress->epoch(), "Progress")) return;
  if (progress->rank() != session.rank) {
    return fail(invalid_argument(describe(session) + " sent Progress claiming rank " +
                                 std::to_string(progress->rank())));
  }
  if (!progress_) return;
  if (progress->decode_steps() > 0) {
    progress_->update_decode(session.rank, progress->decode_steps(), progress->generated_tokens());
  } else {
    progress_->update(session.rank, progress->blocks_done());
  }
}

void JobRunner::on_worker_error(int id, Session& session, const proto::Frame& frame) {
  StatusOr<pb::Error> error = proto::decode_frame<pb::Error>(frame);
  Status status = error.ok() ? proto::validate_error(*error) : error.status();
  if (!status.ok()) return fail(status.with_context("bad Error from " + describe(session)));
  if (session.worker >= 0 && stale(session, error->epoch(), "an Error")) return;
  // Name the worker as we know it, not as it names itself.
  Status reported = proto::from_pb_error(*error);
  reported = Status(reported.code(), describe(session) + " failed: " +
                                         printable(error->message(), proto::kMaxErrorMessageBytes));
  spdlog::error("{}", reported.message());
  if (session.worker >= 0 && session.rank < 0) return;  // a spare: it leaves, nothing else
  session.reported_error = true;
  if (session.worker < 0) return fail(reported);
  // Reports after the first are usually its consequences (a silent rank's neighbour times out
  // first, the ranks waiting on that neighbour next): the first one decides.
  if (reported_error_) return;
  reported_error_ = reported;
  reported_session_ = id;
  attribution_timer_.expires_after(knobs_.attribution_window);
  attribution_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && reported_error_) attribute_reported_error();
  });
}

void JobRunner::attribute_reported_error() {
  const Status reported = *reported_error_;
  const bool peer_failure = reported.code() == StatusCode::kUnavailable ||
                            reported.code() == StatusCode::kDeadlineExceeded ||
                            reported.code() == StatusCode::kCancelled;
  const bool spare_waiting = std::any_of(sessions_.begin(), sessions_.end(), [](const auto& entry) {
    return entry.second.worker >= 0 && entry.second.rank < 0;
  });
  auto it = sessions_.find(reported_session_);
  if (peer_failure || !spare_waiting || restarts_left_ <= 0 || it == sessions_.end() ||
      it->second.rank < 0) {
    return attempt_failed(reported, -1);
  }
  // Fenced as a silent worker is: its connection closes now, so it leaves and cannot rejoin.
  Session session = std::move(it->second);
  sessions_.erase(it);
  monitor_.forget(reported_session_);
  session.connection->close(reported);
  attempt_failed(reported, session.rank);
}

void JobRunner::on_closed(int id, const Status& reason) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session session = std::move(it->second);
  sessions_.erase(it);
  monitor_.forget(id);
  if (phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) return maybe_finished();
  if (session.worker < 0) {
    spdlog::info("{} left before registering: {}", describe(session), reason.to_string());
    return;
  }
  if (session.rank < 0 && registry_.is_spare(session.worker)) {
    spdlog::warn("spare {} left: {}", describe(session), reason.message());
    return;
  }
  if (session.reported_error && restarts_left_ == 0) return;  // its Error decides the outcome
  if (phase_ == Phase::kFinishing) {
    spdlog::warn("{} left while the output was being written: {}", describe(session),
                 reason.message());
    return;
  }
  Status lost = unavailable(describe(session) + " lost " + phase_name() + ": " + reason.message());
  if (reported_error_) {
    lost = lost.with_context("worker failure (" + reported_error_->message() + ")");
  }
  attempt_failed(lost, session.rank);
}

void JobRunner::attempt_failed(Status reason, int vacant_rank) {
  if (restarts_left_ <= 0 || (phase_ != Phase::kRunning && phase_ != Phase::kRestarting)) {
    return fail(reason);
  }
  Session* spare = nullptr;
  if (vacant_rank >= 0) {
    for (auto& [id, session] : sessions_) {  // ids grow in join order: the earliest spare first
      if (session.worker >= 0 && session.rank < 0) {
        spare = &session;
        break;
      }
    }
    if (spare == nullptr) return fail(reason.with_context("no spare worker left to restart with"));
    spare->rank = vacant_rank;
  }
  --restarts_left_;
  ++epoch_;
  spdlog::warn("job {}: attempt {} failed: {}; restarting as attempt {}{} ({} restart(s) left)",
               job_.job_id(), epoch_ - 1, reason.message(), epoch_,
               spare ? ", " + describe(*spare) + " taking over" : std::string(), restarts_left_);
  phase_ = Phase::kRestarting;
  reported_error_.reset();
  attribution_timer_.cancel();
  assembler_.clear();
  workers_done_ = 0;
  if (progress_) progress_->finish();
  progress_.reset();
  pb::Restart restart;
  restart.set_epoch(epoch_);
  restart.set_reason(reason.message());
  for (auto& [id, session] : sessions_) {
    if (session.rank < 0) continue;
    session.done = false;
    session.reported_error = false;
    if (&session == spare) continue;  // registered with a fresh address it never used
    session.ready = false;
    session.connection->set_accepted(kRestartingJob);
    (void)session.connection->send_message(restart);
  }
  join_timer_.expires_after(knobs_.join_timeout);
  join_timer_.async_wait([this, epoch = epoch_](const boost::system::error_code& ec) {
    if (ec || phase_ != Phase::kRestarting || epoch != epoch_) return;
    std::string missing;
    for (const auto& [id, session] : sessions_) {
      if (session.rank >= 0 && !session.ready) missing += " " + std::to_string(session.rank);
    }
    fail(deadline_exceeded("restart: ranks" + missing + " did not register again within " +
                           std::to_string(knobs_.join_timeout.count()) + " ms"));
  });
}

void JobRunner::tick() {
  if (phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) return;
  const auto now = std::chrono::steady_clock::now();
  // Not while finishing: the workers are done, and a slow disk must not fail a finished job.
  if (phase_ == Phase::kJoining || phase_ == Phase::kRunning || phase_ == Phase::kRestarting) {
    for (const HeartbeatMonitor::Overdue& overdue : monitor_.overdue(now)) {
      auto it = sessions_.find(overdue.id);
      if (it == sessions_.end()) continue;
      const Status silent =
          unavailable(describe(it->second) + " missed heartbeats " + phase_name() +
                      ": silent for " + std::to_string(overdue.silent.count()) +
                      " ms (dead after " + std::to_string(knobs_.dead_after.count()) + " ms)");
      if (restarts_left_ == 0 || phase_ == Phase::kJoining) return fail(silent);
      // Fence it: its connection closes now, so whatever it sends if it wakes up goes nowhere.
      Session session = std::move(it->second);
      sessions_.erase(it);
      monitor_.forget(overdue.id);
      session.connection->close(silent);
      if (session.rank >= 0) attempt_failed(silent, session.rank);
      if (phase_ == Phase::kFailed) return;
    }
  }
  pb::Heartbeat heartbeat;
  heartbeat.set_seq(++heartbeat_seq_);
  StatusOr<std::vector<std::byte>> frame = proto::encode_frame(heartbeat);
  RM_CHECK(frame.ok()) << frame.status().to_string();
  for (auto& [id, session] : sessions_) session.connection->send(*frame);
  tick_timer_.expires_after(knobs_.heartbeat_interval);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

JobRunner::~JobRunner() {
  if (writer_.joinable()) writer_.join();
}

void JobRunner::succeed() {
  phase_ = Phase::kFinishing;
  if (progress_) progress_->finish();
  RunFacts facts;
  facts.wall_time_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  facts.worker_peaks = peaks_;
  facts.worker_telemetry = telemetry_;
  if (!rank_speeds_.empty()) {
    facts.rank_weights.assign(job_.rank_weights().begin(), job_.rank_weights().end());
    facts.rank_speeds = rank_speeds_;
  }
  if (const GeneratedRecords* generated = assembler_.generated()) {
    facts.generated = generated->records();
    facts.prefill_s = generated->prefill_s();
    facts.decode_s = generated->decode_s();
  }
  if (const BranchResults* branches = assembler_.branches()) {
    facts.branch_log_likelihoods = branches->log_likelihoods();
  }
  writer_ = std::thread([this, facts = std::move(facts)] {
    // Reads the assembled output, which nothing modifies any more in this phase.
    const auto start = std::chrono::steady_clock::now();
    Status status = parts_.output->write(assembler_.output(), facts);
    const double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    boost::asio::post(strand_, [this, status, write_s] {
      if (status.ok()) spdlog::debug("output written in {:.3f} s", write_s);
      on_written(status);
    });
  });
}

void JobRunner::on_written(const Status& status) {
  if (phase_ != Phase::kFinishing) return;  // failed meanwhile: the output removes its files
  Status committed = status.ok() ? parts_.output->commit() : status;
  if (!committed.ok()) return fail(committed.with_context("writing the output"));
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const GeneratedRecords* generated = assembler_.generated();
  spdlog::info("job {} succeeded: wrote {} ({}); total {:.3f} s", job_.job_id(),
               parts_.output->path(),
               generated ? std::to_string(generated->records().size()) + " records generated"
                         : assembler_.output().to_string(),
               total_s);
  finish(ok_status(), nullptr);
}

void JobRunner::fail(Status reason) {
  if (phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) return;
  if (progress_) progress_->finish();
  spdlog::error("job {} failed: {}", job_.job_id(), reason.to_string());
  pb::Abort abort;
  abort.set_reason(reason.message());
  *abort.mutable_cause() = proto::to_pb_error(reason, -1, "", 0);
  finish(reason, &abort);
}

void JobRunner::finish(Status outcome, const pb::Abort* abort) {
  phase_ = outcome.ok() ? Phase::kSucceeded : Phase::kFailed;
  outcome_ = outcome;
  join_timer_.cancel();
  tick_timer_.cancel();
  attribution_timer_.cancel();
  reported_error_.reset();
  // Copy the connections: close handlers erase sessions (posted, but keep iteration simple).
  std::vector<std::shared_ptr<proto::Connection>> open;
  for (auto& [id, session] : sessions_) open.push_back(session.connection);
  for (auto& connection : open) {
    if (abort != nullptr) {
      (void)connection->send_message(*abort);
    } else {
      pb::Done done;
      done.set_rank(-1);
      (void)connection->send_message(done);
    }
    // Frames still in flight from the worker are read and ignored (on_frame), so the Abort or
    // Done gets out before the connection closes.
    connection->close_after_flush(outcome.ok() ? ok_status() : outcome, knobs_.flush_timeout);
  }
  // Backstop: close handlers normally arrive well before this.
  flush_timer_.expires_after(knobs_.flush_timeout + std::chrono::milliseconds(100));
  flush_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sessions_.clear();
    maybe_finished();
  });
  maybe_finished();
}

void JobRunner::maybe_finished() {
  if (finished_called_ || !outcome_ || !sessions_.empty()) return;
  finished_called_ = true;
  flush_timer_.cancel();
  on_finished_(*outcome_);
}

}  // namespace ringmaster::coordinator
