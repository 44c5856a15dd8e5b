// proto/handshake.h: the two halves of the authentication handshake as small state machines,
// free of sockets so they can be tested against each other and against replayed messages.
//
//   ClientHandshake (worker)                ServerHandshake (coordinator)
//   hello()            -- Hello -->         on_hello(): validates, draws server nonce
//                      <-- Challenge --     (server_proof over both nonces)
//   on_challenge():    checks server_proof, answers
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
  explicit ServerHandshake(const JobToken& token) : token_(token) {}

  // Validates the Hello and returns the Challenge to send.
  StatusOr<pb::Challenge> on_hello(const pb::Hello& hello);
  // OK when the client proved it holds the token; then authenticated() is true.
  Status on_auth_response(const pb::AuthResponse& response);

  bool authenticated() const { return authenticated_; }
  // The Hello the client sent (valid after on_hello succeeded).
  const pb::Hello& hello() const { return hello_; }

 private:
  const JobToken& token_;
  pb::Hello hello_;
  std::string server_nonce_;
  bool challenged_ = false;
  bool authenticated_ = false;
};

class ClientHandshake {
 public:
  // `token` must outlive the handshake.
  ClientHandshake(const JobToken& token, std::string host, int64_t pid)
      : token_(token), host_(std::move(host)), pid_(pid) {}

  // Draws the client nonce and returns the Hello to send. Call once.
  StatusOr<pb::Hello> hello();
  // Checks that the server holds the token and returns the AuthResponse to send.
  StatusOr<pb::AuthResponse> on_challenge(const pb::Challenge& challenge);

 private:
  const JobToken& token_;
  std::string host_;
  int64_t pid_;
  std::string client_nonce_;
};

}  // namespace ringmaster::proto
