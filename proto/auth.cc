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

constexpr std::string_view kServerLabel = "ringmaster-server-v1";
constexpr std::string_view kClientLabel = "ringmaster-client-v1";

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string hmac(const JobToken& token, std::string_view label, std::string_view first,
                 std::string_view second) {
  // The label and both nonces are concatenated; nonces have a fixed size (checked by the
  // callers' validators), so the concatenation is unambiguous.
  std::string message;
  message.reserve(label.size() + first.size() + second.size());
  message.append(label).append(first).append(second);
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

StatusOr<JobToken> JobToken::from_secret(std::string secret) {
  if (secret.size() < kMinTokenBytes) {
    const size_t size = secret.size();
    wipe(secret);
    return invalid_argument("job token is " + std::to_string(size) + " bytes; at least " +
                            std::to_string(kMinTokenBytes) + " are required");
  }
  if (secret.size() > kMaxTokenBytes) {
    wipe(secret);
    return invalid_argument("job token is longer than " + std::to_string(kMaxTokenBytes) +
                            " bytes");
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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno_status(path, errno);
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
                         std::string_view server_nonce) {
  return hmac(token, kServerLabel, client_nonce, server_nonce);
}

std::string client_proof(const JobToken& token, std::string_view server_nonce,
                         std::string_view client_nonce) {
  return hmac(token, kClientLabel, server_nonce, client_nonce);
}

bool proofs_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ringmaster::proto
