// coordinator/server.h: the coordinator's listening socket and the authentication of every
// connection that arrives on it.
//
// Until a connection proves it holds the job token (proto/handshake.h), it may send only a Hello
// and an AuthResponse (each under 1 KiB). Its first frame must arrive within
// `first_frame_timeout` (1 s: a worker sends its Hello at once), and the whole handshake must
// finish within `auth_timeout` of the connect. Unauthenticated connections hold one of
// `max_unauthenticated` slots, at most `max_per_source` per source address; a new connection
// always gets a slot, and the one dropped to make room is the oldest silent one (coordinator/
// admission.h), so a flood of idle sockets cannot keep a real worker out (RELIABILITY.md S3).
// Junk (an HTTP request, a TLS hello, random bytes) fails the frame magic and is closed at its
// first 16 bytes. A worker with the wrong token gets an Error saying so, then the connection
// closes, and the job never hears of it. Every such close is logged naming the peer and the
// reason, rate-limited to one line per `warning_interval` with counts (coordinator/refusal_log.h).
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

#include "coordinator/admission.h"
#include "coordinator/refusal_log.h"
#include "core/status.h"
#include "proto/auth.h"
#include "proto/connection.h"
#include "proto/handshake.h"

namespace ringmaster::coordinator {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

struct ServerKnobs {
  // Connect to first frame; capped at auth_timeout.
  std::chrono::milliseconds first_frame_timeout{1000};
  // Connect to authenticated.
  std::chrono::milliseconds auth_timeout{10000};
  int max_unauthenticated = 64;
  int max_per_source = 8;  // REQUIRES: 1 <= max_per_source <= max_unauthenticated
  std::chrono::milliseconds warning_interval{1000};
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
    std::string source;  // the peer's address, without the port
    std::unique_ptr<proto::ServerHandshake> handshake;
    std::unique_ptr<boost::asio::steady_timer> deadline;
    std::chrono::steady_clock::time_point accepted_at;
    bool refused = false;  // refuse() already logged it
  };

  void accept_next();
  void on_accepted(boost::asio::ip::tcp::socket socket);
  void arm_deadline(uint64_t id, std::chrono::steady_clock::time_point at, const Status& reason);
  void on_frame(uint64_t id, proto::Frame frame);
  void refuse(uint64_t id, const Status& reason);
  // Closes pending connection `id` now and forgets it (the admission rules chose it).
  void drop(uint64_t id, const Status& reason);
  // Logs (or counts, see RefusalLog) a connection closed before it authenticated.
  void warn_closed(const std::string& source, const std::string& line_prefix,
                   const std::string& peer, const Status& reason);
  void flush_warnings();

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
  Admission admission_;
  RefusalLog refusal_log_;
  boost::asio::steady_timer warning_timer_;
  bool warning_timer_armed_ = false;
};

}  // namespace ringmaster::coordinator
