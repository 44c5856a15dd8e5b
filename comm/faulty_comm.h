// comm/faulty_comm.h: FaultyComm, a Communicator decorator that injects data-plane faults for
// tests (STYLE.md: cross-cutting behaviour is a decorator, as leveldb's EnvWrapper is).
//
// Today it knows one fault, the silent peer of RELIABILITY.md R4: a rank that stays alive and
// heartbeats but whose blocks never leave. Its sends complete at once, as if delivered, and
// nothing reaches the peer, so the peer's receive hits its per-step deadline, which names the
// step and this rank. Receives pass through unchanged. `ringmaster worker` installs it only when
// the launcher saw RINGMASTER_TESTING_SILENT_RANK (the env-driven fault injection of Ray's
// RAY_testing_rpc_failure); production paths never construct one.
//
// Ownership: FaultyComm borrows `inner`, which must outlive it. Thread-safety: as `inner`.
#pragma once

#include <chrono>

#include "comm/communicator.h"

namespace ringmaster::comm {

// Which faults a FaultyComm injects; all off is a transparent wrapper.
struct CommFaults {
  bool drop_sends = false;  // every isend completes at once and sends nothing

  bool any() const { return drop_sends; }
};

class FaultyComm final : public Communicator {
 public:
  FaultyComm(Communicator& inner, CommFaults faults) : inner_(inner), faults_(faults) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  // With drop_sends, checks the arguments as every backend does, then drops the message and
  // returns a completed Request; otherwise forwards.
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override {
    return inner_.irecv(peer, data, tag);
  }
  std::chrono::milliseconds step_timeout() const override { return inner_.step_timeout(); }

 private:
  Communicator& inner_;
  CommFaults faults_;
};

}  // namespace ringmaster::comm
