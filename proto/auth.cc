#include "proto/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace ringmaster::proto {
namespace {

constexpr std::string_view kServerLabel = "ringmaster-server-v2";
constexpr std::string_view kClientLabel = "ringmaster-client-v2";

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string hmac(const JobToken& token, std::string_view label, std::string_view first,
                 std::string_view second, std::string_view job_id) {
  // The label, both nonces and the job id are concatenated; the label and nonces have a fixed
  // size (the nonces checked by the callers' validators), so the concatenation is unambiguous.
  std::string message;
  message.reserve(label.size() + first.size() + second.size() + job_id.size());
  message.append(label).append(first).append(second).append(job_id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const std::string& key = token.secret();
  const unsigned char* out = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), digest, &digest_len);
  // HMAC only fails on allocation failure or an unusable digest: a bug or a broken libcrypto.
  RM_CHECK(out != nullptr && digest_len == kProofBytes) << "HMAC-SHA256 failed";
  return std::string(reinterpret_cast<const char*>(digest), digest_len);
}

}  // namespace

namespace {

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Either base64 alphabet: standard (+/) or URL-safe (-_); '=' only as trailing padding.
bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '-' || c == '_';
}

// Why `secret` cannot be a token of at least 128 random bits, or empty when it can. Never quotes
// the secret: the message ends up in logs.
std::string token_weakness(std::string_view secret) {
  static const std::string kHowTo =
      "; a job token must be at least 128 random bits written as hex (at least " +
      std::to_string(kMinTokenHexDigits) + " hex digits) or base64 (at least " +
      std::to_string(kMinTokenBase64Chars) + " characters), e.g. from `openssl rand -hex 32`";
  if (secret.size() > kMaxTokenBytes) {
    return "job token is longer than " + std::to_string(kMaxTokenBytes) + " bytes";
  }
  size_t significant = secret.size();
  while (significant > 0 && secret[significant - 1] == '=' && secret.size() - significant < 2) {
    --significant;
  }
  const std::string_view body = secret.substr(0, significant);
  bool all_hex = true;
  for (size_t i = 0; i < body.size(); ++i) {
    if (!is_base64_char(body[i])) {
      return "job token has a character that is neither hex nor base64 at byte " +
             std::to_string(i) + kHowTo;
    }
    all_hex = all_hex && is_hex_digit(body[i]);
  }
  // All hex digits and no padding reads as hex (4 bits a digit), otherwise as base64 (6 bits).
  if (all_hex && significant == secret.size()) {
    if (body.size() < kMinTokenHexDigits) {
      return "job token is " + std::to_string(body.size()) + " hex digits (" +
             std::to_string(4 * body.size()) + " bits)" + kHowTo;
    }
  } else if (body.size() < kMinTokenBase64Chars) {
    return "job token is " + std::to_string(body.size()) + " base64 characters (" +
           std::to_string(6 * body.size()) + " bits)" + kHowTo;
  }
  // Random text of this length uses many symbols (32 random hex digits show fewer than 8
  // distinct ones with probability ~4e-8); "0000..." or "abab..." was typed, not drawn.
  bool seen[256] = {};
  int distinct = 0;
  for (const char c : body) {
    if (!seen[static_cast<unsigned char>(c)]) ++distinct;
    seen[static_cast<unsigned char>(c)] = true;
  }
  if (distinct < kMinTokenDistinctChars) {
    return "job token uses only " + std::to_string(distinct) +
           " distinct characters, so it was not drawn at random" + kHowTo;
  }
  return "";
}

}  // namespace

StatusOr<JobToken> JobToken::from_secret(std::string secret) {
  const std::string weakness = token_weakness(secret);
  if (!weakness.empty()) {
    wipe(secret);
    return invalid_argument(weakness);
  }
  return JobToken(std::move(secret));
}

StatusOr<JobToken> JobToken::generate() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return internal_error("CSPRNG failed generating a token");
  std::string hex(2 * sizeof raw, '0');
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof raw; ++i) {
    hex[2 * i] = kDigits[raw[i] >> 4];
    hex[2 * i + 1] = kDigits[raw[i] & 0xf];
  }
  OPENSSL_cleanse(raw, sizeof raw);
  return JobToken(std::move(hex));
}

JobToken::JobToken(JobToken&& other) noexcept : secret_(std::move(other.secret_)) {
  other.secret_.clear();
}

JobToken& JobToken::operator=(JobToken&& other) noexcept {
  if (this != &other) {
    wipe(secret_);
    secret_ = std::move(other.secret_);
    other.secret_.clear();
  }
  return *this;
}

JobToken::~JobToken() { wipe(secret_); }

StatusOr<JobToken> read_token_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    // O_NOFOLLOW reports a final symlink as ELOOP ("too many levels of symbolic links"); say
    // what it means. Following it would let whoever can write the link's folder pick our token.
    struct stat link {};
    if (err == ELOOP && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
      return failed_precondition(path +
                                 ": token file is a symbolic link; refusing to follow it (pass "
                                 "the path of the file itself)");
    }
    return errno_status(path, err);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return failed_precondition(path + ": token file is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return failed_precondition(path + ": token file is owned by uid " + std::to_string(st.st_uid) +
                               ", not by this user (uid " + std::to_string(::geteuid()) +
                               "); another user could have chosen or read it");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return failed_precondition(path + ": token file has mode " + mode +
                               "; it must be readable by its owner only (chmod 600)");
  }
  std::string secret;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      wipe(secret);
      return errno_status(path, err);
    }
    if (n == 0) break;
    secret.append(buf, static_cast<size_t>(n));
    if (secret.size() > kMaxTokenBytes + 1) break;
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  auto token = JobToken::from_secret(std::move(secret));
  if (!token.ok()) return token.status().with_context(path);
  return token;
}

StatusOr<std::string> make_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
    return internal_error("CSPRNG failed generating a nonce");
  }
  return nonce;
}

std::string server_proof(const JobToken& token, std::string_view client_nonce,
                         std::string_view server_nonce, std::string_view job_id) {
  return hmac(token, kServerLabel, client_nonce, server_nonce, job_id);
}

std::string client_proof(const JobToken& token, std::string_view server_nonce,
                         std::string_view client_nonce, std::string_view job_id) {
  return hmac(token, kClientLabel, server_nonce, client_nonce, job_id);
}

bool proofs_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ringmaster::proto
