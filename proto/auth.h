// proto/auth.h: the job token and the HMAC-SHA256 challenge-response that proves a peer holds
// it, without the token ever crossing the wire.
//
// Handshake (ringmaster.proto): the worker sends a fresh client nonce; the coordinator answers
// with a fresh server nonce, its job id and server_proof; the worker checks it and answers
// client_proof.
//   server_proof = HMAC-SHA256(token, "ringmaster-server-v2" | client_nonce | server_nonce |
//   job_id) client_proof = HMAC-SHA256(token, "ringmaster-client-v2" | server_nonce | client_nonce
//   | job_id)
// Both nonces are fresh per connection, so a captured handshake proves nothing on a new one
// (no replay in either direction), and the distinct labels keep one side's proof from being
// reflected as the other's. The job id binds both proofs to one job: with a token reused across
// jobs, a proof made for one job fails at another's coordinator, and a worker that knows its job
// refuses a coordinator that names another. Proofs are compared in constant time. The channel is
// not encrypted: the token is a credential for joining a job, not a secret for the data
// (RELIABILITY.md 6).
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
inline constexpr size_t kProofBytes = 32;  // SHA-256 output
// A token carries at least 128 random bits (RELIABILITY.md S2): 32 hex digits, or 22 base64
// characters (16 bytes). A passphrase would fall to an offline guess from one server_proof.
inline constexpr size_t kMinTokenHexDigits = 32;
inline constexpr size_t kMinTokenBase64Chars = 22;
inline constexpr int kMinTokenDistinctChars = 8;
inline constexpr size_t kMaxTokenBytes = 4096;

class JobToken {
 public:
  // A token from its text form (the RINGMASTER_TOKEN value or a token file's contents): hex of
  // at least kMinTokenHexDigits digits, or base64 (standard or URL-safe alphabet, '=' padding
  // allowed) of at least kMinTokenBase64Chars characters, with at least kMinTokenDistinctChars
  // distinct characters. Text that is all hex digits counts as hex. kInvalidArgument otherwise,
  // saying what is wrong and how to make a token, never quoting it. The text itself is the HMAC
  // key. Length and alphabet cannot tell a random token from a long passphrase written in the
  // base64 alphabet; the launcher generates tokens, and the README says how to make one.
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

// Reads a token file. Refuses (kFailedPrecondition, naming the path and the reason) a symbolic
// link (never followed), a file that is not regular, one owned by another user than the
// effective uid, and one whose mode lets group or others read or write it (beyond 0600).
// One trailing newline is stripped; the rest must pass JobToken::from_secret.
StatusOr<JobToken> read_token_file(const std::string& path);

// kNonceBytes from the OS CSPRNG. kInternal if the CSPRNG fails.
StatusOr<std::string> make_nonce();

// REQUIRES: both nonces are kNonceBytes (validate_hello, validate_challenge), so the message is
// unambiguous with the variable-length job id last.
std::string server_proof(const JobToken& token, std::string_view client_nonce,
                         std::string_view server_nonce, std::string_view job_id);
std::string client_proof(const JobToken& token, std::string_view server_nonce,
                         std::string_view client_nonce, std::string_view job_id);

// Constant-time equality of two proofs (false when the sizes differ).
bool proofs_equal(std::string_view a, std::string_view b);

}  // namespace ringmaster::proto
