// comm/communicator.h: everything a mixer may do with its peers.
//
// A Communicator connects the P ranks of one job. Transfers are point-to-point, non-blocking and
// matched by (peer, tag): a message sent by rank a to rank b with tag t is received by the one
// irecv that rank b posted for (a, t). Messages between one pair with one tag arrive in order.
// Collectives (comm/collectives.h) are built on these calls, above the interface, so every
// backend gets them for free. Backends: LocalComm (threads in one process, for unit tests),
// UcxComm (host memory over UCX), NcclComm (device memory over NCCL). NCCL has no tags: NcclComm
// matches the messages of one pair in posting order and reports a tag it did not expect as
// kDataLoss, so protocols post each pair's transfers in the same order on both sides (the ring
// and the collectives do; comm/nccl/nccl_comm.h).
//
// Thread-compatible: one thread issues calls on a Communicator; a Request may be waited on from
// that thread. Errors (a dead peer, a timeout, a size mismatch) are Statuses, never aborts.
//
// Shutdown: a completed send may still be on its way (UCX completes small sends once buffered),
// and destroying a Communicator may drop it. End a job with a collective (an all_gather of one
// byte) so every message has arrived, and destroy the Communicators of all ranks then: ranks that
// close together close quickly (UcxComm flushes each connection, which needs the peer's progress).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace ringmaster::comm {

using ConstView = std::span<const std::byte>;
using MutableView = std::span<std::byte>;

// Which transfer a message belongs to. Composed by the protocol above (layer, step, purpose) so
// a late or misrouted block is never mistaken for another. The packed form is 48 bits, layer
// [47:32], step [31:8], kind [7:0]; the top 16 bits of a 64-bit wire tag belong to the
// transport (UCX puts the source rank there, since ucp matches on the tag alone). isend and
// irecv reject a tag that does not fit() with kInvalidArgument rather than alias another.
struct Tag {
  static constexpr uint32_t kMaxLayer = 0xffff;
  static constexpr uint32_t kMaxStep = 0xffffff;

  uint32_t layer = 0;
  uint32_t step = 0;
  uint8_t kind = 0;

  bool fits() const { return layer <= kMaxLayer && step <= kMaxStep; }
  uint64_t packed() const { return (uint64_t{layer} << 32) | (uint64_t{step} << 8) | kind; }
};

// "layer 3 step 7 kind 1", for error messages.
inline std::string to_string(const Tag& tag) {
  return "layer " + std::to_string(tag.layer) + " step " + std::to_string(tag.step) + " kind " +
         std::to_string(tag.kind);
}

using Deadline = std::chrono::steady_clock::time_point;

// One transfer in flight. Completing it (wait) is what makes the buffer reusable. A wait that
// times out leaves the transfer posted: wait again, or destroy the Request, which cancels it
// (a receive stops before the destructor returns, so its buffer may then be freed).
class RequestImpl {
 public:
  virtual ~RequestImpl() = default;
  // True once the transfer finished, successfully or not; drives progress.
  virtual bool test() = 0;
  // Blocks until done or `deadline`. Errors: kDeadlineExceeded on expiry and kUnavailable for a
  // dead peer, both naming this rank, the peer and the tag; kDataLoss for a size mismatch.
  virtual Status wait(Deadline deadline) = 0;
};

class Request {
 public:
  Request() = default;
  explicit Request(std::unique_ptr<RequestImpl> impl) : impl_(std::move(impl)) {}
  bool valid() const { return impl_ != nullptr; }
  bool test() { return !impl_ || impl_->test(); }
  // An invalid (default) Request is complete.
  Status wait(Deadline deadline) { return impl_ ? impl_->wait(deadline) : ok_status(); }

 private:
  std::unique_ptr<RequestImpl> impl_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Starts sending `data` to `peer`. `data` must stay alive and unchanged until the Request
  // completes. REQUIRES: 0 <= peer < size(), peer != rank(). Wait for every send: destroying
  // an unfinished one may break the connection to `peer` (UcxComm cannot otherwise stop it).
  virtual StatusOr<Request> isend(int peer, ConstView data, Tag tag) = 0;
  // Starts receiving exactly data.size() bytes from `peer` into `data`; a message of another
  // size completes the Request with kDataLoss. `data` must stay alive until completion.
  virtual StatusOr<Request> irecv(int peer, MutableView data, Tag tag) = 0;
  // The deadline for any single wait of a protocol step (per-step timeout of RELIABILITY.md).
  virtual std::chrono::milliseconds step_timeout() const = 0;
};

// `now + comm.step_timeout()`: the deadline of one step's transfers.
inline Deadline step_deadline(const Communicator& comm) {
  return std::chrono::steady_clock::now() + comm.step_timeout();
}

// Views of a contiguous array.
template <typename T>
ConstView as_bytes(std::span<const T> values) {
  return std::as_bytes(values);
}
template <typename T>
MutableView as_writable_bytes(std::span<T> values) {
  return std::as_writable_bytes(values);
}

}  // namespace ringmaster::comm
