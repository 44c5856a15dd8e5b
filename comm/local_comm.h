// comm/local_comm.h: LocalComm, P ranks as threads of one process, for tests and single-host
// reference runs.
//
// The ranks of a group share one mailbox (a mutex, a condition variable, the queued messages and
// the posted receives). isend copies the payload into the mailbox, or straight into a matching
// posted receive, and completes at once; irecv completes when a message with the same (source,
// tag) arrives. Matching is on Tag::packed(), as UcxComm matches, so both accept the same tags.
// Messages of one (source, destination, tag) are received in the order they were sent.
//
// Device memory: every payload byte moves through one copy function, std::memcpy by default. A
// CUDA build passes one that accepts device pointers (core/cuda/device_buffer.h copy_bytes,
// cudaMemcpy with cudaMemcpyDefault, which tells host from device pointers through unified
// addressing), so P ranks sharing one GPU can run the ring with device-resident blocks: NCCL
// needs one GPU per rank, and this is the single-GPU stand-in. comm itself never links CUDA.
//
// Faults: mark_dead() makes a rank behave like a killed process. Its own calls fail, and its
// peers' waits for a message it never sent fail with kUnavailable at once instead of timing out.
// Messages it sent before dying stay receivable, as bytes already delivered by a network are.
//
// Ownership: each LocalComm and each Request holds the mailbox by shared_ptr, so Requests may
// outlive their Communicator. Thread-safety: each LocalComm is thread-compatible (one thread per
// rank issues its calls), the group is thread-safe across ranks, and mark_dead() may be called
// from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "comm/communicator.h"

namespace ringmaster::comm {

namespace internal {
struct LocalMailbox;
}

class LocalComm final : public Communicator {
 public:
  // Copies `bytes` from src to dst (either may be device memory the function understands);
  // a failure fails the transfer with its Status.
  using CopyBytes = Status (*)(void* dst, const void* src, size_t bytes);

  // A group of `world` connected ranks; element r is rank r. Each rank's waits of a protocol
  // step use `step_timeout`. Payloads move with `copy` (null: std::memcpy). REQUIRES: world >= 1.
  static std::vector<std::unique_ptr<Communicator>> make_local_group(
      int world, std::chrono::milliseconds step_timeout, CopyBytes copy = nullptr);

  int rank() const override { return rank_; }
  int size() const override;
  std::chrono::milliseconds step_timeout() const override { return step_timeout_; }

  // Completes before returning: the payload is copied. Errors: kInvalidArgument for a bad peer or
  // tag; kUnavailable when this rank or `peer` is dead.
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  // Errors: kInvalidArgument for a bad peer or tag; kUnavailable when this rank is dead. A dead
  // peer is reported by wait(), so that messages it sent before dying can still be received.
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override;

  // Kills this rank (fault injection): pending and later calls of this rank fail, and peers
  // waiting for a message from it get kUnavailable. Irreversible. Thread-safe.
  void mark_dead();

  LocalComm(int rank, std::chrono::milliseconds step_timeout,
            std::shared_ptr<internal::LocalMailbox> mailbox);  // use make_local_group

 private:
  Status check_call(int peer, Tag tag, const char* what) const;

  int rank_;
  std::chrono::milliseconds step_timeout_;
  std::shared_ptr<internal::LocalMailbox> mailbox_;
};

}  // namespace ringmaster::comm
