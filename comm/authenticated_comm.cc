#include "comm/authenticated_comm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <optional>

namespace ringmaster::comm {

namespace {

constexpr char kMagic[4] = {'R', 'M', 'D', '1'};
constexpr std::string_view kMacLabel = "ringmaster-data-v1";
constexpr std::string_view kKeyLabel = "ringmaster-data-key-v1";
// Refusals logged one by one before the log falls back to every kLogEvery-th.
constexpr uint64_t kLogFirst = 8;
constexpr uint64_t kLogEvery = 1000;

void put_u32(unsigned char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(unsigned char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint64_t get_u64(const std::byte* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(std::to_integer<unsigned char>(in[i])) << (8 * i);
  return v;
}

// label | len(job_id) | job_id | epoch: the part of every MAC input that names the attempt.
std::string attempt_prefix(std::string_view label, std::string_view job_id, uint32_t epoch) {
  std::string prefix(label);
  unsigned char n[4];
  put_u32(n, static_cast<uint32_t>(job_id.size()));
  prefix.append(reinterpret_cast<const char*>(n), 4);
  prefix.append(job_id);
  put_u32(n, epoch);
  prefix.append(reinterpret_cast<const char*>(n), 4);
  return prefix;
}

std::string describe(int dst, int src, Tag tag, size_t bytes) {
  return "rank " + std::to_string(dst) + " receiving from rank " + std::to_string(src) + " (" +
         to_string(tag) + ", " + std::to_string(bytes) + " bytes)";
}

}  // namespace

StatusOr<std::string> make_data_plane_nonce() {
  std::string nonce(kDataPlaneNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kDataPlaneNonceBytes) != 1) {
    return internal_error("CSPRNG failed making a data-plane nonce");
  }
  return nonce;
}

DataPlaneKey derive_data_plane_key(std::string_view token_secret, std::string_view job_id,
                                   uint32_t epoch, std::string_view nonce) {
  const std::string input = attempt_prefix(kKeyLabel, job_id, epoch) + std::string(nonce);
  DataPlaneKey key{};
  unsigned int length = 0;
  const unsigned char* done =
      HMAC(EVP_sha256(), token_secret.data(), static_cast<int>(token_secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           reinterpret_cast<unsigned char*>(key.data()), &length);
  RM_CHECK(done != nullptr && length == key.size()) << "HMAC-SHA256 failed deriving a key";
  return key;
}

// ---- MessageSealer ----

struct MessageSealer::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* base = nullptr;  // keyed, the attempt prefix absorbed; duplicated per message

  ~State() {
    EVP_MAC_CTX_free(base);
    EVP_MAC_free(mac);
  }
};

MessageSealer::MessageSealer(const DataPlaneKey& key, std::string_view job_id, uint32_t epoch)
    : state_(std::make_unique<State>()) {
  state_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  RM_CHECK(state_->mac != nullptr) << "OpenSSL has no HMAC";
  state_->base = EVP_MAC_CTX_new(state_->mac);
  RM_CHECK(state_->base != nullptr) << "EVP_MAC_CTX_new failed";
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  RM_CHECK(EVP_MAC_init(state_->base, reinterpret_cast<const unsigned char*>(key.data()),
                        key.size(), params) == 1)
      << "HMAC-SHA256 init failed";
  const std::string prefix = attempt_prefix(kMacLabel, job_id, epoch);
  RM_CHECK(EVP_MAC_update(state_->base, reinterpret_cast<const unsigned char*>(prefix.data()),
                          prefix.size()) == 1);
}

MessageSealer::~MessageSealer() = default;

std::array<unsigned char, kSealMacBytes> MessageSealer::mac(const SealContext& context,
                                                            ConstView payload) const {
  unsigned char fields[4 + 4 + 8 + 8 + 8];
  put_u32(fields, static_cast<uint32_t>(context.src));
  put_u32(fields + 4, static_cast<uint32_t>(context.dst));
  put_u64(fields + 8, context.tag.packed());
  put_u64(fields + 16, payload.size());
  put_u64(fields + 24, context.seq);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(state_->base);
  RM_CHECK(ctx != nullptr) << "EVP_MAC_CTX_dup failed";
  std::array<unsigned char, kSealMacBytes> out{};
  size_t length = 0;
  const bool ok = EVP_MAC_update(ctx, fields, sizeof fields) == 1 &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(payload.data()),
                                 payload.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &length, out.size()) == 1 && length == out.size();
  EVP_MAC_CTX_free(ctx);
  RM_CHECK(ok) << "HMAC-SHA256 failed";
  return out;
}

void MessageSealer::seal(const SealContext& context, ConstView payload, MutableView wire) const {
  RM_CHECK(wire.size() == kSealHeaderBytes + payload.size()) << "seal: wrong wire size";
  auto* header = reinterpret_cast<unsigned char*>(wire.data());
  std::memcpy(header, kMagic, 4);
  put_u32(header + 4, 0);
  put_u64(header + 8, context.seq);
  if (!payload.empty()) std::memcpy(wire.data() + kSealHeaderBytes, payload.data(), payload.size());
  // Over the copy, not the caller's buffer: what is sent is what was MACed.
  const auto tag = mac(context, wire.subspan(kSealHeaderBytes));
  std::memcpy(header + 16, tag.data(), tag.size());
}

StatusOr<ConstView> MessageSealer::open(const SealContext& context, size_t expected_bytes,
                                        ConstView wire) const {
  if (wire.size() != kSealHeaderBytes + expected_bytes) {
    return data_loss("message of " + std::to_string(wire.size()) + " bytes, expected " +
                     std::to_string(kSealHeaderBytes + expected_bytes));
  }
  constexpr unsigned char kZero[4] = {0, 0, 0, 0};
  if (std::memcmp(wire.data(), kMagic, 4) != 0 || std::memcmp(wire.data() + 4, kZero, 4) != 0) {
    return data_loss("not a ringmaster data-plane message (bad magic)");
  }
  const uint64_t seq = get_u64(wire.data() + 8);
  // Checked before the MAC only to say why; the MAC covers the expected value either way.
  if (seq != context.seq) {
    return data_loss("message " + std::to_string(seq) + " of its (peer, tag), expected " +
                     std::to_string(context.seq) + " (a replay, or out of sequence)");
  }
  const ConstView payload = wire.subspan(kSealHeaderBytes);
  const auto expected = mac(context, payload);
  if (CRYPTO_memcmp(expected.data(), wire.data() + 16, kSealMacBytes) != 0) {
    return data_loss(
        "MAC mismatch (forged, corrupted, or sealed for another job, attempt, pair "
        "or tag)");
  }
  return payload;
}

// ---- AuthenticatedComm ----

struct AuthenticatedComm::Shared {
  Shared(const DataPlaneKey& key, std::string_view job_id, uint32_t epoch)
      : sealer(key, job_id, epoch) {}

  // Counts a refused message and logs it (rate-limited: a flood must not flood the log).
  void refuse(const std::string& what, const Status& why, size_t bytes) {
    const uint64_t n = ++rejected_count;
    rejected_bytes += bytes;
    if (n <= kLogFirst || n % kLogEvery == 0) {
      spdlog::warn("data plane: {}: refused message #{}: {}", what, n, why.message());
    }
  }

  MessageSealer sealer;
  std::atomic<uint64_t> rejected_count{0};
  std::atomic<uint64_t> rejected_bytes{0};
};

namespace {

// Keeps the sealed copy alive until the inner send completes.
class AuthSend final : public RequestImpl {
 public:
  AuthSend(std::unique_ptr<std::byte[]> wire, Request inner)
      : wire_(std::move(wire)), inner_(std::move(inner)) {}
  bool test() override { return inner_.test(); }
  Status wait(Deadline deadline) override { return inner_.wait(deadline); }

 private:
  std::unique_ptr<std::byte[]> wire_;  // declared first: the inner request goes first
  Request inner_;
};

class AuthRecv final : public RequestImpl {
 public:
  AuthRecv(Communicator& inner, std::shared_ptr<AuthenticatedComm::Shared> shared,
           SealContext context, MutableView out)
      : inner_comm_(inner),
        shared_(std::move(shared)),
        context_(context),
        out_(out),
        wire_bytes_(kSealHeaderBytes + out.size()),
        wire_(new std::byte[wire_bytes_]) {}

  Status post() {
    StatusOr<Request> posted =
        inner_comm_.irecv(context_.src, MutableView(wire_.get(), wire_bytes_), context_.tag);
    if (!posted.ok()) return posted.status();
    inner_ = std::move(posted).value();
    return ok_status();
  }

  bool test() override {
    if (result_) return true;
    if (!inner_.test()) return false;
    // Done (or failed): settle it without blocking.
    handle(inner_.wait(std::chrono::steady_clock::now()));
    return result_.has_value();
  }

  Status wait(Deadline deadline) override {
    while (!result_) {
      Status status = inner_.wait(deadline);
      if (status.code() == StatusCode::kDeadlineExceeded) {
        // Not final: the receive stays posted, as the inner one does.
        if (refused_ == 0) return status;
        return deadline_exceeded(what() + ": not complete by the deadline; refused " +
                                 std::to_string(refused_) +
                                 " message(s) claiming to be from rank " +
                                 std::to_string(context_.src) + " (last: " + last_refusal_ + ")");
      }
      handle(std::move(status));
    }
    return *result_;
  }

 private:
  std::string what() const {
    return describe(context_.dst, context_.src, context_.tag, out_.size());
  }

  // One completion of the inner receive: deliver it, or refuse it and post again.
  void handle(Status status) {
    if (status.ok()) {
      StatusOr<ConstView> payload =
          shared_->sealer.open(context_, out_.size(), ConstView(wire_.get(), wire_bytes_));
      if (payload.ok()) {
        if (!payload->empty()) std::memcpy(out_.data(), payload->data(), payload->size());
        result_ = ok_status();
        return;
      }
      status = payload.status();
    } else if (status.code() != StatusCode::kDataLoss) {
      result_ = std::move(status);  // a dead peer, a cancelled receive: final
      return;
    }
    // kDataLoss: a message of another size (the transport consumed it), or one that failed above.
    ++refused_;
    last_refusal_ = status.message();
    shared_->refuse(what(), status, wire_bytes_);
    inner_ = Request();
    if (Status posted = post(); !posted.ok()) result_ = std::move(posted);
  }

  Communicator& inner_comm_;
  std::shared_ptr<AuthenticatedComm::Shared> shared_;
  SealContext context_;
  MutableView out_;
  size_t wire_bytes_;
  std::unique_ptr<std::byte[]> wire_;  // declared before inner_: the receive stops first
  Request inner_;
  std::optional<Status> result_;
  uint64_t refused_ = 0;
  std::string last_refusal_;
};

}  // namespace

AuthenticatedComm::AuthenticatedComm(Communicator& inner, const DataPlaneKey& key,
                                     std::string_view job_id, uint32_t epoch)
    : inner_(inner), rank_(inner.rank()), shared_(std::make_shared<Shared>(key, job_id, epoch)) {}

AuthenticatedComm::~AuthenticatedComm() {
  // Not rank(): `inner` may already be gone.
  const RejectedMessages refused = rejected();
  if (refused.count > 0) {
    spdlog::warn("data plane: rank {} refused {} message(s), {} bytes, in all", rank_,
                 refused.count, refused.bytes);
  }
}

RejectedMessages AuthenticatedComm::rejected() const {
  return {shared_->rejected_count.load(), shared_->rejected_bytes.load()};
}

Status AuthenticatedComm::check_call(int peer, Tag tag, const char* what) const {
  if (peer < 0 || peer >= size() || peer == rank()) {
    return invalid_argument("rank " + std::to_string(rank()) + " " + what + " peer " +
                            std::to_string(peer) + " of " + std::to_string(size()) + " ranks");
  }
  if (!tag.fits()) {
    return invalid_argument("rank " + std::to_string(rank()) + " " + what + " tag out of range (" +
                            to_string(tag) + ")");
  }
  return ok_status();
}

StatusOr<Request> AuthenticatedComm::isend(int peer, ConstView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_call(peer, tag, "isend to"));
  uint64_t& next = send_seq_[{peer, tag.packed()}];
  const size_t wire_bytes = kSealHeaderBytes + data.size();
  std::unique_ptr<std::byte[]> wire(new std::byte[wire_bytes]);
  shared_->sealer.seal({rank(), peer, tag, next}, data, MutableView(wire.get(), wire_bytes));
  RM_ASSIGN_OR_RETURN(Request inner, inner_.isend(peer, ConstView(wire.get(), wire_bytes), tag));
  ++next;  // only once sent, so a refused call leaves the sequence as it was
  return Request(std::make_unique<AuthSend>(std::move(wire), std::move(inner)));
}

StatusOr<Request> AuthenticatedComm::irecv(int peer, MutableView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_call(peer, tag, "irecv from"));
  uint64_t& next = recv_seq_[{peer, tag.packed()}];
  auto request =
      std::make_unique<AuthRecv>(inner_, shared_, SealContext{peer, rank(), tag, next}, data);
  RM_RETURN_IF_ERROR(request->post());
  ++next;
  return Request(std::move(request));
}

}  // namespace ringmaster::comm
