// worker/control_client.h: reaching the coordinator and proving the job token to it.
//
// Workers usually start before, or at the same moment as, the coordinator (srun starts every
// task at once), so a refused or failed connection is retried with exponential backoff (initial
// `initial_backoff`, doubling up to `max_backoff`, with jitter so a thousand workers do not
// retry in lockstep) until `connect_timeout` has passed since start(). Once connected, the
// handshake (proto/handshake.h) must finish within `handshake_timeout`. The worker checks the
// coordinator's proof before it proves itself, so it never talks to an impostor.
//
// Outcomes are final: a wrong token (either side's proof fails, or the coordinator says
// UNAUTHENTICATED) and a coordinator that refuses the worker (job full) are not retried.
//
// Ownership: the client owns the connection until it hands it over in the ConnectResult.
// Thread-safety: all methods and the handler run on the strand given at construction.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "core/status.h"
#include "proto/auth.h"
#include "proto/connection.h"
#include "proto/handshake.h"

namespace ringmaster::worker {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

struct ConnectKnobs {
  std::chrono::milliseconds connect_timeout{60000};
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  std::chrono::milliseconds handshake_timeout{10000};
};

struct ConnectResult {
  Status status;                                  // OK: authenticated and welcomed
  bool auth_failed = false;                       // the job token did not match
  std::shared_ptr<proto::Connection> connection;  // set when OK
  pb::Welcome welcome;                            // set when OK
};

class ControlClient {
 public:
  using Handler = std::function<void(ConnectResult result)>;

  // `token` must outlive the client. `self_host` / `self_pid` identify this worker in Hello.
  // `job_id` non-empty: a coordinator of another job is refused as a wrong token is
  // (auth_failed), before this worker proves anything to it.
  ControlClient(Strand strand, const proto::JobToken& token, std::string coordinator_host,
                uint16_t coordinator_port, std::string self_host, int64_t self_pid,
                std::string job_id, ConnectKnobs knobs);

  // Starts connecting; `done` runs once, on the strand.
  void start(Handler done);
  // Gives up (the handler is not called). Idempotent.
  void stop();

 private:
  void attempt();
  void retry(const Status& why);
  void on_connected(boost::asio::ip::tcp::socket socket);
  void on_frame(proto::Frame frame);
  void finish(ConnectResult result);
  std::string target() const;

  Strand strand_;
  const proto::JobToken& token_;
  std::string coordinator_host_;
  uint16_t coordinator_port_;
  std::string self_host_;
  int64_t self_pid_;
  std::string job_id_;
  ConnectKnobs knobs_;
  Handler done_;

  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds backoff_;
  std::minstd_rand jitter_;
  int attempts_ = 0;
  uint64_t generation_ = 0;  // bumped per step; handlers of an older step ignore themselves
  bool finished_ = false;

  boost::asio::ip::tcp::resolver resolver_;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
  boost::asio::steady_timer timer_;  // attempt timeout, then backoff, then handshake timeout
  std::shared_ptr<proto::Connection> connection_;
  std::unique_ptr<proto::ClientHandshake> handshake_;
};

}  // namespace ringmaster::worker
