#include "worker/control_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>

#include "core/printable.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::worker {

namespace asio = boost::asio;
using asio::ip::tcp;
using proto::MessageType;
using proto::type_bit;

namespace {

// No single attempt may hang on a black-holed SYN for the kernel's two minutes.
constexpr std::chrono::milliseconds kAttemptTimeout{5000};

std::chrono::milliseconds until(std::chrono::steady_clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now()));
}

ConnectResult failed(Status status, bool auth_failed = false) {
  ConnectResult result;
  result.status = std::move(status);
  result.auth_failed = auth_failed;
  return result;
}

}  // namespace

ControlClient::ControlClient(Strand strand, const proto::JobToken& token,
                             std::string coordinator_host, uint16_t coordinator_port,
                             std::string self_host, int64_t self_pid, std::string job_id,
                             ConnectKnobs knobs)
    : strand_(strand),
      token_(token),
      coordinator_host_(std::move(coordinator_host)),
      coordinator_port_(coordinator_port),
      self_host_(std::move(self_host)),
      self_pid_(self_pid),
      job_id_(std::move(job_id)),
      knobs_(knobs),
      backoff_(knobs.initial_backoff),
      jitter_(static_cast<uint32_t>(self_pid)),
      resolver_(strand),
      timer_(strand) {}

std::string ControlClient::target() const {
  return coordinator_host_ + ":" + std::to_string(coordinator_port_);
}

void ControlClient::start(Handler done) {
  done_ = std::move(done);
  deadline_ = std::chrono::steady_clock::now() + knobs_.connect_timeout;
  attempt();
}

void ControlClient::stop() {
  if (finished_) return;
  finished_ = true;
  timer_.cancel();
  resolver_.cancel();
  boost::system::error_code ignored;
  if (socket_) socket_->close(ignored);
  if (connection_) connection_->close(cancelled("worker stopping"));
}

void ControlClient::attempt() {
  if (finished_) return;
  ++attempts_;
  const uint64_t attempt_id = ++generation_;
  timer_.expires_after(std::min(kAttemptTimeout, until(deadline_)));
  timer_.async_wait([this, attempt_id](const boost::system::error_code& ec) {
    if (ec || finished_ || attempt_id != generation_ || connection_) return;
    // The pending resolve or connect completes with operation_aborted and retries.
    resolver_.cancel();
    boost::system::error_code ignored;
    if (socket_) socket_->close(ignored);
  });
  resolver_.async_resolve(
      coordinator_host_, std::to_string(coordinator_port_),
      [this, attempt_id](const boost::system::error_code& ec, tcp::resolver::results_type found) {
        if (finished_ || attempt_id != generation_) return;
        if (ec) return retry(unavailable("cannot resolve " + target() + ": " + ec.message()));
        socket_ = std::make_unique<tcp::socket>(strand_);
        asio::async_connect(
            *socket_, found,
            [this, attempt_id](const boost::system::error_code& connect_ec, const tcp::endpoint&) {
              if (finished_ || attempt_id != generation_) {
                return;
              }
              if (connect_ec) {
                return retry(
                    unavailable("cannot connect to " + target() + ": " + connect_ec.message()));
              }
              on_connected(std::move(*socket_));
            });
      });
}

void ControlClient::retry(const Status& why) {
  if (finished_) return;
  connection_.reset();
  handshake_.reset();
  const auto jitter = std::chrono::milliseconds(jitter_() % (backoff_.count() / 4 + 1));
  // The last wait is cut short so one final attempt lands at the deadline.
  const auto wait = std::min(backoff_ + jitter, until(deadline_));
  if (until(deadline_) <= std::chrono::milliseconds(0)) {
    return finish(failed(
        deadline_exceeded("could not join the coordinator at " + target() + " within " +
                          std::to_string(knobs_.connect_timeout.count()) + " ms (" +
                          std::to_string(attempts_) + " attempts); last error: " + why.message())));
  }
  spdlog::debug("{}; retrying in {} ms", why.message(), wait.count());
  backoff_ = std::min(backoff_ * 2, knobs_.max_backoff);
  const uint64_t waiting_id = ++generation_;  // invalidates the failed attempt's handlers
  timer_.expires_after(wait);
  timer_.async_wait([this, waiting_id](const boost::system::error_code& ec) {
    if (ec || finished_ || waiting_id != generation_) return;
    attempt();
  });
}

void ControlClient::on_connected(tcp::socket socket) {
  ++generation_;  // the attempt timer's job is over
  connection_ = proto::Connection::make(std::move(socket), target());
  handshake_ = std::make_unique<proto::ClientHandshake>(token_, self_host_, self_pid_, job_id_);
  StatusOr<pb::Hello> hello = handshake_->hello();
  if (!hello.ok()) return finish(failed(hello.status()));
  const uint64_t handshake_id = generation_;
  connection_->start(
      type_bit(MessageType::kChallenge) | type_bit(MessageType::kError),
      [this](proto::Frame frame) { on_frame(std::move(frame)); },
      [this, handshake_id](const Status& reason) {
        if (finished_ || handshake_id != generation_) return;
        retry(reason.with_context("during the handshake"));
      });
  (void)connection_->send_message(*hello);
  timer_.expires_after(std::min(knobs_.handshake_timeout, until(deadline_)));
  timer_.async_wait([this, handshake_id](const boost::system::error_code& ec) {
    if (ec || finished_ || handshake_id != generation_) return;
    connection_->close(deadline_exceeded("no answer from " + target() + " within " +
                                         std::to_string(knobs_.handshake_timeout.count()) + " ms"));
  });
}

void ControlClient::on_frame(proto::Frame frame) {
  if (finished_) return;
  switch (frame.type) {
    case MessageType::kChallenge: {
      StatusOr<pb::Challenge> challenge = proto::decode_frame<pb::Challenge>(frame);
      if (!challenge.ok()) return connection_->close(challenge.status());
      StatusOr<pb::AuthResponse> response = handshake_->on_challenge(*challenge);
      if (!response.ok()) return finish(failed(response.status(), /*auth_failed=*/true));
      connection_->set_accepted(type_bit(MessageType::kWelcome) | type_bit(MessageType::kError));
      (void)connection_->send_message(*response);
      return;
    }
    case MessageType::kWelcome: {
      StatusOr<pb::Welcome> welcome = proto::decode_frame<pb::Welcome>(frame);
      Status status = welcome.ok() ? proto::validate_welcome(*welcome) : welcome.status();
      if (status.ok() && welcome->job_id() != handshake_->job_id()) {
        status = invalid_argument("welcomed to job " + printable(welcome->job_id()) +
                                  " after a proof for job " + printable(handshake_->job_id()));
      }
      if (!status.ok()) return finish(failed(status.with_context("bad Welcome")));
      ConnectResult result;
      result.connection = connection_;
      result.welcome = std::move(welcome).value();
      return finish(std::move(result));
    }
    case MessageType::kError: {
      StatusOr<pb::Error> error = proto::decode_frame<pb::Error>(frame);
      if (!error.ok()) return finish(failed(error.status().with_context("bad Error")));
      const bool auth = error->code() == pb::ERROR_CODE_UNAUTHENTICATED;
      return finish(failed(
          Status(auth ? StatusCode::kFailedPrecondition : proto::from_pb_error(*error).code(),
                 "the coordinator at " + target() + " refused this worker: " +
                     printable(error->message(), proto::kMaxErrorMessageBytes)),
          auth));
    }
    default:
      return connection_->close(internal_error("unexpected frame"));
  }
}

void ControlClient::finish(ConnectResult result) {
  if (finished_) return;
  finished_ = true;
  timer_.cancel();
  if (!result.status.ok() && connection_) connection_->close(result.status);
  if (result.status.ok()) {
    spdlog::info("joined the coordinator at {} (job {}) after {} attempt(s)", target(),
                 printable(result.welcome.job_id()), attempts_);
  }
  done_(std::move(result));
}

}  // namespace ringmaster::worker
