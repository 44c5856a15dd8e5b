// comm/cancellable_comm.h: CancellableComm, a Communicator decorator whose waits end when the
// shard is cancelled (core/cancel.h), so a rank blocked on a dead or aborted job's transfer
// stops within a poll slice instead of at its step deadline.
//
// Why a decorator and not an abort() on the interface: the interface stays at its five methods
// (STYLE.md 2), no backend changes (LocalComm, UcxComm, NcclComm, and the decorators that wrap
// them), and every protocol above (ring, Ulysses, halo, collectives, ATLAS chain) becomes
// cancellable without a new argument. It relies only on the contract of RequestImpl::wait: a
// wait that times out leaves the transfer posted and may be waited again. So a wait here waits
// on the inner Request in slices of at most kCancelPollSlice and looks at the token between
// slices; the cost is one timed-out inner wait per slice while a transfer is pending.
//
// After a stop: waits return kCancelled naming this rank, the peer and the tag; isend and irecv
// start nothing and return kCancelled. Destroying the Requests then is the inner backend's
// business (UcxComm cancels receives and drops unfinished sends' connections), which is right
// for a job that is over.
//
// REQUIRES: `inner`'s waits may be waited again after a deadline, as communicator.h says
// (LocalComm, UcxComm, FaultyComm over them). NcclComm does not qualify: it aborts itself when a
// wait reaches its deadline (NCCL cannot cancel one transfer), so the worker does not wrap it.
//
// Ownership: borrows `inner`, which must outlive it and every Request it returned.
// Thread-safety: as `inner`; the stop may be requested from any thread.
#pragma once

#include <chrono>
#include <stop_token>

#include "comm/communicator.h"

namespace ringmaster::comm {

// How long a wait may go without looking at the token: the bound on a cancelled rank's latency
// in the data plane.
inline constexpr std::chrono::milliseconds kCancelPollSlice{10};

class CancellableComm final : public Communicator {
 public:
  CancellableComm(Communicator& inner, std::stop_token stop)
      : inner_(inner), stop_(std::move(stop)) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override;
  std::chrono::milliseconds step_timeout() const override { return inner_.step_timeout(); }

 private:
  StatusOr<Request> wrap(bool send, int peer, Tag tag, StatusOr<Request> inner);

  Communicator& inner_;
  std::stop_token stop_;
};

}  // namespace ringmaster::comm
