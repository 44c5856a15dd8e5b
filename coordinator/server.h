// coordinator/server.h: the coordinator's listening socket and the authentication of every
// connection that arrives on it.
//
// Until a connection proves it holds the job token (proto/handshake.h), it may send only a Hello
// and an AuthResponse (each under 1 KiB), it must finish within `auth_timeout`, and at most
// `max_unauthenticated` such connections exist at once; anything else closes it with a logged
// reason naming the peer address. Junk (an HTTP request, a TLS hello, random bytes) fails the
// frame magic and is closed at its first 16 bytes. A worker with the wrong token gets an Error
// saying so, then the connection closes, and the job never hears of it.
//
// An authenticated connection is handed to the AuthenticatedHandler (the JobRunner), which owns
// it from then on. Binding defaults to 127.0.0.1 (RELIABILITY.md 3.8): a wildcard address is
// only used when asked for.
//
// Ownership: the Server owns pending connections; it must outlive io_context::run(). Thread-
// safety: every method and handler runs on the strand given at construction.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "proto/auth.h"
#include "proto/connection.h"
#include "proto/handshake.h"

namespace ringmaster::coordinator {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

struct ServerKnobs {
  std::chrono::milliseconds auth_timeout{10000};
  int max_unauthenticated = 64;
};

class Server {
 public:
  using AuthenticatedHandler =
      std::function<void(std::shared_ptr<proto::Connection> connection, const pb::Hello& hello)>;

  // `token` must outlive the Server. `job_id` is the job served, which both handshake proofs
  // cover (proto/auth.h).
  Server(Strand strand, const proto::JobToken& token, std::string job_id, ServerKnobs knobs,
         AuthenticatedHandler on_authenticated);

  // Binds and listens on host:port (port 0: an ephemeral port; see port()). Errors name the
  // address (kInvalidArgument for an unparsable host, kUnavailable when binding fails).
  Status listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }

  // Starts accepting. REQUIRES: listen() succeeded.
  void start();
  // Stops accepting and closes every connection not yet authenticated. Idempotent.
  void stop();

 private:
  struct Pending {
    std::shared_ptr<proto::Connection> connection;
    std::unique_ptr<proto::ServerHandshake> handshake;
    std::unique_ptr<boost::asio::steady_timer> deadline;
  };

  void accept_next();
  void on_accepted(boost::asio::ip::tcp::socket socket);
  void on_frame(uint64_t id, proto::Frame frame);
  void refuse(uint64_t id, const Status& reason);

  Strand strand_;
  const proto::JobToken& token_;
  std::string job_id_;
  ServerKnobs knobs_;
  AuthenticatedHandler on_authenticated_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // backs off after accept errors such as EMFILE
  uint16_t port_ = 0;
  bool stopped_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace ringmaster::coordinator
