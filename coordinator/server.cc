#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <vector>

#include "core/printable.h"
#include "proto/convert.h"

namespace ringmaster::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

using Clock = std::chrono::steady_clock;

std::string endpoint_name(const tcp::socket& socket) {
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return "?";
  return remote.address().to_string() + ":" + std::to_string(remote.port());
}

std::string address_name(const tcp::socket& socket) {
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return "?";
  return remote.address().to_string();
}

}  // namespace

Server::Server(Strand strand, const proto::JobToken& token, std::string job_id, ServerKnobs knobs,
               AuthenticatedHandler on_authenticated)
    : strand_(strand),
      token_(token),
      job_id_(std::move(job_id)),
      knobs_(knobs),
      on_authenticated_(std::move(on_authenticated)),
      acceptor_(strand),
      retry_timer_(strand),
      admission_(AdmissionLimits{knobs.max_unauthenticated, knobs.max_per_source}),
      refusal_log_(knobs.warning_interval),
      warning_timer_(strand) {}

Status Server::listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return invalid_argument("cannot listen on '" + host + "': not an IP address");
  const tcp::endpoint endpoint(address, port);
  const std::string where = host + ":" + std::to_string(port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return unavailable("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return unavailable("cannot read the bound port of " + where + ": " + ec.message());
  if (address.is_unspecified()) {
    spdlog::warn(
        "listening on every interface ({}): anyone who can reach this host can try the "
        "job token; prefer the address of the network the workers use",
        host);
  }
  return ok_status();
}

void Server::start() { accept_next(); }

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  warning_timer_.cancel();
  flush_warnings();
  // Copy: closing posts close handlers that erase from pending_ later, but be safe anyway.
  std::vector<std::shared_ptr<proto::Connection>> open;
  for (auto& [id, pending] : pending_) open.push_back(pending.connection);
  for (auto& connection : open) connection->close(cancelled("coordinator shutting down"));
}

void Server::accept_next() {
  if (stopped_) return;
  acceptor_.async_accept(strand_, [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // EMFILE and friends: retrying at once would spin, so wait a little.
      spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](const boost::system::error_code& timer_ec) {
        if (!timer_ec) accept_next();
      });
      return;
    }
    on_accepted(std::move(socket));
    accept_next();
  });
}

void Server::warn_closed(const std::string& source, const std::string& line_prefix,
                         const std::string& peer, const Status& reason) {
  const std::string text = reason.to_string();
  if (refusal_log_.note(Clock::now(), source, peer, text)) {
    spdlog::warn("{}: {}", line_prefix, text);
    return;
  }
  if (warning_timer_armed_ || stopped_) return;
  warning_timer_armed_ = true;
  warning_timer_.expires_at(refusal_log_.summary_due());
  warning_timer_.async_wait([this](const boost::system::error_code& ec) {
    warning_timer_armed_ = false;
    if (!ec) flush_warnings();
  });
}

void Server::flush_warnings() {
  const std::string summary = refusal_log_.take_summary(Clock::now());
  if (!summary.empty()) spdlog::warn("{}", summary);
}

void Server::drop(uint64_t id, const Status& reason) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  // Erased first, so the close handler finds nothing and the admission table is already free.
  const std::shared_ptr<proto::Connection> connection = it->second.connection;
  const std::string source = it->second.source;
  pending_.erase(it);
  admission_.remove(id);
  connection->close(reason);
  warn_closed(source, "closed " + connection->peer_name() + " before it authenticated",
              connection->peer_name(), reason);
}

void Server::arm_deadline(uint64_t id, Clock::time_point at, const Status& reason) {
  Pending& pending = pending_.at(id);
  pending.deadline->expires_at(at);  // cancels the previous wait, whose handler then returns
  pending.deadline->async_wait([this, id, reason](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second.connection->close(reason);
  });
}

void Server::on_accepted(tcp::socket socket) {
  const std::string peer = endpoint_name(socket);
  const std::string source = address_name(socket);
  const uint64_t id = next_id_++;
  const bool same_source = admission_.from_source(source) >= knobs_.max_per_source;
  if (const std::optional<uint64_t> victim = admission_.admit(id, source)) {
    drop(*victim,
         unavailable(same_source ? "dropped for a newer connection from the same address (" +
                                       std::to_string(knobs_.max_per_source) +
                                       " unauthenticated connections per address)"
                                 : "dropped for a newer connection (" +
                                       std::to_string(knobs_.max_unauthenticated) +
                                       " unauthenticated connections in all)"));
  }
  Pending& pending = pending_[id];
  pending.connection = proto::Connection::make(std::move(socket), peer);
  pending.source = source;
  pending.handshake = std::make_unique<proto::ServerHandshake>(token_, job_id_);
  pending.accepted_at = Clock::now();
  pending.deadline = std::make_unique<asio::steady_timer>(strand_);
  const auto first_frame = std::min(knobs_.first_frame_timeout, knobs_.auth_timeout);
  arm_deadline(
      id, pending.accepted_at + first_frame,
      deadline_exceeded("no first frame within " + std::to_string(first_frame.count()) + " ms"));
  pending.connection->start(
      proto::type_bit(proto::MessageType::kHello),
      [this, id](proto::Frame frame) { on_frame(id, std::move(frame)); },
      [this, id, peer](const Status& reason) {
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        it->second.deadline->cancel();
        const std::string from = it->second.source;
        const bool refused = it->second.refused;
        pending_.erase(it);
        admission_.remove(id);
        if (reason.code() != StatusCode::kCancelled && !refused) {
          warn_closed(from, "closed " + peer + " before it authenticated", peer, reason);
        }
      });
}

void Server::refuse(uint64_t id, const Status& reason) {
  Pending& pending = pending_.at(id);
  pending.refused = true;
  const pb::Hello& hello = pending.handshake->hello();
  warn_closed(pending.source,
              "refused " + pending.connection->peer_name() + " (host '" + printable(hello.host()) +
                  "' pid " + std::to_string(hello.pid()) + ")",
              pending.connection->peer_name(), reason);
  // Telling the worker why lets it exit with the authentication code instead of retrying.
  if (pending.connection->send_message(proto::unauthenticated_error(reason.message())).ok()) {
    pending.connection->set_accepted(0);
    pending.connection->close_after_flush(reason, std::chrono::milliseconds(500));
  }
}

void Server::on_frame(uint64_t id, proto::Frame frame) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& pending = it->second;
  if (frame.type == proto::MessageType::kHello) {
    StatusOr<pb::Hello> hello = proto::decode_frame<pb::Hello>(frame);
    StatusOr<pb::Challenge> challenge =
        hello.ok() ? pending.handshake->on_hello(*hello) : StatusOr<pb::Challenge>(hello.status());
    if (!challenge.ok()) return pending.connection->close(challenge.status());
    // It spoke: the rest of the handshake gets what is left of auth_timeout, and the admission
    // rules drop it only after every silent connection.
    admission_.spoke(id);
    arm_deadline(id, pending.accepted_at + knobs_.auth_timeout,
                 deadline_exceeded("no authentication within " +
                                   std::to_string(knobs_.auth_timeout.count()) + " ms"));
    pending.connection->set_accepted(proto::type_bit(proto::MessageType::kAuthResponse));
    (void)pending.connection->send_message(*challenge);
    return;
  }
  // Only Hello and AuthResponse pass the connection's type filter before authentication.
  StatusOr<pb::AuthResponse> response = proto::decode_frame<pb::AuthResponse>(frame);
  if (!response.ok()) return pending.connection->close(response.status());
  if (Status status = pending.handshake->on_auth_response(*response); !status.ok()) {
    return refuse(id, status);
  }
  std::shared_ptr<proto::Connection> connection = pending.connection;
  const pb::Hello hello = pending.handshake->hello();
  pending.deadline->cancel();
  pending_.erase(it);
  admission_.remove(id);
  spdlog::info("authenticated {} (host '{}' pid {})", connection->peer_name(),
               printable(hello.host()), hello.pid());
  on_authenticated_(std::move(connection), hello);
}

}  // namespace ringmaster::coordinator
