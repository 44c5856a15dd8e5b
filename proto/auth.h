// proto/auth.h: the job token and the HMAC-SHA256 challenge-response that proves a peer holds
// it, without the token ever crossing the wire.
//
// Handshake (ringmaster.proto): the worker sends a fresh client nonce; the coordinator answers
// with a fresh server nonce and server_proof; the worker checks it and answers client_proof.
//   server_proof = HMAC-SHA256(token, "ringmaster-server-v1" | client_nonce | server_nonce)
//   client_proof = HMAC-SHA256(token, "ringmaster-client-v1" | server_nonce | client_nonce)
// Both nonces are fresh per connection, so a captured handshake proves nothing on a new one
// (no replay in either direction), and the distinct labels keep one side's proof from being
// reflected as the other's. Proofs are compared in constant time. The channel is not encrypted:
// the token is a credential for joining a job, not a secret for the data (RELIABILITY.md 6).
//
// JobToken holds the secret and wipes it on destruction; it has no to_string, so it cannot end up
// in a log by accident. Thread-safe: pure functions and an immutable value.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace ringmaster::proto {

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kProofBytes = 32;     // SHA-256 output
inline constexpr size_t kMinTokenBytes = 16;  // 128 bits, RELIABILITY.md S2
inline constexpr size_t kMaxTokenBytes = 4096;

class JobToken {
 public:
  // A token from its text form (the RINGMASTER_TOKEN value or a token file's contents).
  // kInvalidArgument when shorter than kMinTokenBytes or longer than kMaxTokenBytes.
  static StatusOr<JobToken> from_secret(std::string secret);
  // 32 random bytes from the OS CSPRNG, as 64 hex characters (so it survives env and files).
  static StatusOr<JobToken> generate();

  JobToken(JobToken&& other) noexcept;
  JobToken& operator=(JobToken&& other) noexcept;
  JobToken(const JobToken& other) = default;
  JobToken& operator=(const JobToken& other) = default;
  ~JobToken();

  // The secret, for handing to a child process's environment and for the HMAC key.
  const std::string& secret() const { return secret_; }

 private:
  explicit JobToken(std::string secret) : secret_(std::move(secret)) {}
  std::string secret_;
};

// Reads a token file. Refuses (kFailedPrecondition) a file that is not regular or whose mode lets
// group or others read or write it (anything beyond 0600), naming the path and its mode.
// One trailing newline is stripped.
StatusOr<JobToken> read_token_file(const std::string& path);

// kNonceBytes from the OS CSPRNG. kInternal if the CSPRNG fails.
StatusOr<std::string> make_nonce();

std::string server_proof(const JobToken& token, std::string_view client_nonce,
                         std::string_view server_nonce);
std::string client_proof(const JobToken& token, std::string_view server_nonce,
                         std::string_view client_nonce);

// Constant-time equality of two proofs (false when the sizes differ).
bool proofs_equal(std::string_view a, std::string_view b);

}  // namespace ringmaster::proto
