#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

#include "core/printable.h"
#include "proto/convert.h"

namespace ringmaster::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string endpoint_name(const tcp::socket& socket) {
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return "?";
  return remote.address().to_string() + ":" + std::to_string(remote.port());
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
      retry_timer_(strand) {}

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

void Server::on_accepted(tcp::socket socket) {
  const std::string peer = endpoint_name(socket);
  if (static_cast<int>(pending_.size()) >= knobs_.max_unauthenticated) {
    spdlog::warn("refusing {}: {} connections are already authenticating", peer, pending_.size());
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  const uint64_t id = next_id_++;
  Pending& pending = pending_[id];
  pending.connection = proto::Connection::make(std::move(socket), peer);
  pending.handshake = std::make_unique<proto::ServerHandshake>(token_, job_id_);
  pending.deadline = std::make_unique<asio::steady_timer>(strand_, knobs_.auth_timeout);
  pending.deadline->async_wait([this, id](const boost::system::error_code& ec) {
    if (ec) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second.connection->close(deadline_exceeded(
        "no authentication within " + std::to_string(knobs_.auth_timeout.count()) + " ms"));
  });
  pending.connection->start(
      proto::type_bit(proto::MessageType::kHello),
      [this, id](proto::Frame frame) { on_frame(id, std::move(frame)); },
      [this, id, peer](const Status& reason) {
        auto it = pending_.find(id);
        if (it == pending_.end()) return;
        it->second.deadline->cancel();
        pending_.erase(it);
        if (reason.code() != StatusCode::kCancelled) {
          spdlog::warn("closed {} before it authenticated: {}", peer, reason.to_string());
        }
      });
}

void Server::refuse(uint64_t id, const Status& reason) {
  Pending& pending = pending_.at(id);
  const pb::Hello& hello = pending.handshake->hello();
  spdlog::warn("refused {} (host '{}' pid {}): {}", pending.connection->peer_name(),
               printable(hello.host()), hello.pid(), reason.to_string());
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
  spdlog::info("authenticated {} (host '{}' pid {})", connection->peer_name(),
               printable(hello.host()), hello.pid());
  on_authenticated_(std::move(connection), hello);
}

}  // namespace ringmaster::coordinator
