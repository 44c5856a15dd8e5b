// proto/handshake.h: the two halves of the authentication handshake as small state machines,
// free of sockets so they can be tested against each other and against replayed messages.
//
//   ClientHandshake (worker)                ServerHandshake (coordinator)
//   hello()            -- Hello -->         on_hello(): validates, draws server nonce
//                      <-- Challenge --     (job id, server_proof over both nonces and it)
//   on_challenge():    checks server_proof and the job id, answers
//                      -- AuthResponse -->  on_auth_response(): checks client_proof
//
// Each object serves one connection and draws its nonce once, so a message recorded on one
// connection fails on any other. Errors: kInvalidArgument for a malformed message,
// kFailedPrecondition for one out of order or a proof that does not match (the message says
// which); the caller logs it with the peer address and closes the connection.
// Thread-compatible: one connection's handshake runs on its strand.
#pragma once

#include <string>

#include "core/status.h"
#include "proto/auth.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::proto {

class ServerHandshake {
 public:
  // `token` must outlive the handshake; `job_id` is the job this coordinator serves.
  ServerHandshake(const JobToken& token, std::string job_id)
      : token_(token), job_id_(std::move(job_id)) {}

  // Validates the Hello and returns the Challenge to send.
  StatusOr<pb::Challenge> on_hello(const pb::Hello& hello);
  // OK when the client proved it holds the token; then authenticated() is true.
  Status on_auth_response(const pb::AuthResponse& response);

  bool authenticated() const { return authenticated_; }
  // The Hello the client sent (valid after on_hello succeeded).
  const pb::Hello& hello() const { return hello_; }

 private:
  const JobToken& token_;
  std::string job_id_;
  pb::Hello hello_;
  std::string server_nonce_;
  bool challenged_ = false;
  bool authenticated_ = false;
};

class ClientHandshake {
 public:
  // `token` must outlive the handshake. `expected_job_id` non-empty: only a coordinator of that
  // job is answered (the worker's --job-id); empty: any job whose coordinator holds the token.
  ClientHandshake(const JobToken& token, std::string host, int64_t pid,
                  std::string expected_job_id = "")
      : token_(token),
        host_(std::move(host)),
        pid_(pid),
        expected_job_id_(std::move(expected_job_id)) {}

  // Draws the client nonce and returns the Hello to send. Call once.
  StatusOr<pb::Hello> hello();
  // Checks that the server holds the token and serves the expected job, and returns the
  // AuthResponse to send (a proof for that job only). kFailedPrecondition otherwise.
  StatusOr<pb::AuthResponse> on_challenge(const pb::Challenge& challenge);
  // The job the coordinator proved it serves (valid after on_challenge succeeded).
  const std::string& job_id() const { return job_id_; }

 private:
  const JobToken& token_;
  std::string host_;
  int64_t pid_;
  std::string expected_job_id_;
  std::string client_nonce_;
  std::string job_id_;
};

}  // namespace ringmaster::proto
