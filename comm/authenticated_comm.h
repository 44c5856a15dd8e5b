// comm/authenticated_comm.h: AuthenticatedComm, a Communicator decorator that authenticates every
// data-plane message (RELIABILITY.md S7; STYLE.md: cross-cutting behaviour is a decorator), and
// the message format it speaks, exposed for the tests and the fuzz target.
//
// Why: a transport such as UCX matches a message on the tag its sender wrote, so anyone who can
// reach a worker's endpoint could otherwise slip a forged K/V block into a ring step. Here each
// message carries a MAC under a key only the job's workers hold, over everything the receiver
// expects of it:
//   wire = header (kSealHeaderBytes) | payload
//   header = magic "RMD1" | 4 zero bytes | seq (u64 LE) | mac (32 bytes)
//   mac = HMAC-SHA256(key, "ringmaster-data-v1" | len(job_id) (u32) | job_id | epoch (u32) |
//                          src (u32) | dst (u32) | tag.packed() (u64) | payload length (u64) |
//                          seq (u64) | payload)
// `seq` counts the messages one rank sent another with one tag (0, 1, ...), so a genuine message
// replayed later, or into another step, pair or attempt, fails. The receiver checks the MAC with
// the values it expects (its own rank, the peer and tag it posted, the size it asked for, its
// count of that (peer, tag)), in constant time, before a byte reaches the caller's buffer.
//
// A message that fails (wrong size, bad magic, bad MAC, out of sequence) is dropped and counted,
// never delivered, and the receive keeps waiting for the genuine one. A receive that gets only
// such messages ends at its deadline with kDeadlineExceeded naming the claimed source and why
// its messages were refused. A protocol that waits on two receives of one (peer, tag) at once
// should not count on both surviving forged traffic: a refused message re-posts its receive
// behind the other one.
//
// Key: each attempt's workers derive it from the job token and a fresh nonce that the
// coordinator sends in the Assignment (derive_data_plane_key), so it never crosses the wire.
//
// Cost: one copy of each payload on each side and one HMAC pass over it (SHA-NI: about 2 GB/s
// per core); `ringmaster bench ring --data-auth off,on` measures it.
//
// Ownership: AuthenticatedComm borrows `inner`, which must outlive it and its Requests. Requests
// own their staging buffers. Thread-safety: as `inner` (thread-compatible); counters are atomic
// so another thread may read them.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "comm/communicator.h"
#include "core/status.h"

namespace ringmaster::comm {

inline constexpr size_t kDataPlaneKeyBytes = 32;
inline constexpr size_t kDataPlaneNonceBytes = 32;
inline constexpr size_t kSealMacBytes = 32;  // HMAC-SHA256
inline constexpr size_t kSealHeaderBytes = 16 + kSealMacBytes;

using DataPlaneKey = std::array<std::byte, kDataPlaneKeyBytes>;

// kDataPlaneNonceBytes from the OS CSPRNG (the coordinator's, once per attempt). kInternal if the
// CSPRNG fails.
StatusOr<std::string> make_data_plane_nonce();

// The attempt's MAC key: HMAC-SHA256(token_secret, "ringmaster-data-key-v1" | len(job_id) (u32) |
// job_id | epoch (u32) | nonce). Every worker of the attempt derives the same key.
DataPlaneKey derive_data_plane_key(std::string_view token_secret, std::string_view job_id,
                                   uint32_t epoch, std::string_view nonce);

// What a message is, besides its payload; both sides compute the MAC over it.
struct SealContext {
  int src = 0;
  int dst = 0;
  Tag tag;
  uint64_t seq = 0;
};

// The MAC state of one attempt: the key with the job id and epoch already absorbed.
class MessageSealer {
 public:
  MessageSealer(const DataPlaneKey& key, std::string_view job_id, uint32_t epoch);
  ~MessageSealer();
  MessageSealer(const MessageSealer&) = delete;
  MessageSealer& operator=(const MessageSealer&) = delete;

  // Writes header and payload into `wire`. REQUIRES: wire.size() == kSealHeaderBytes +
  // payload.size(); `payload` may not overlap `wire`.
  void seal(const SealContext& context, ConstView payload, MutableView wire) const;

  // The payload of `wire` (a view into it) if it is the message `context` describes with a
  // payload of exactly `expected_bytes`; else kDataLoss saying why (size, magic, sequence, MAC).
  // Any bytes are safe to pass: this is the data-plane decoder the fuzz target drives.
  StatusOr<ConstView> open(const SealContext& context, size_t expected_bytes, ConstView wire) const;

 private:
  std::array<unsigned char, kSealMacBytes> mac(const SealContext& context, ConstView payload) const;

  struct State;
  std::unique_ptr<State> state_;
};

// What a receiver refused (all peers together).
struct RejectedMessages {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

class AuthenticatedComm final : public Communicator {
 public:
  // `job_id` and `epoch` name the attempt; the MAC binds them.
  AuthenticatedComm(Communicator& inner, const DataPlaneKey& key, std::string_view job_id,
                    uint32_t epoch);
  ~AuthenticatedComm() override;

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::chrono::milliseconds step_timeout() const override { return inner_.step_timeout(); }

  // Seals a copy of `data` (so `data` is free again on return) and sends it. Errors: inner's.
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  // Receives into a staging buffer and copies the payload to `data` once it authenticates (see
  // above). Errors: inner's; kDeadlineExceeded naming `peer` when only refused messages came.
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override;

  // Messages refused so far (dropped, never delivered).
  RejectedMessages rejected() const;

  // What the Communicator and its receive Requests share.
  struct Shared;

 private:
  Status check_call(int peer, Tag tag, const char* what) const;

  Communicator& inner_;
  int rank_;
  std::shared_ptr<Shared> shared_;
  // Next sequence number per (peer, packed tag), one map for sends and one for receives.
  std::map<std::pair<int, uint64_t>, uint64_t> send_seq_;
  std::map<std::pair<int, uint64_t>, uint64_t> recv_seq_;
};

}  // namespace ringmaster::comm
