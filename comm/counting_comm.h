// comm/counting_comm.h: CountingComm, a Communicator decorator that counts what a rank's data
// plane does (bytes sent and received, time blocked in waits), and TrafficMeter, where it counts,
// split by the phase the rank is in (a model's block kind: "attention", "fit", "atlas"...).
//
// Why at the comm layer: every protocol above (ring, Ulysses, the collectives of FIT, the ATLAS
// chain, the window and local halos, decode's split-K) goes through a Communicator, so counting
// here counts all of them, and no mixer keeps stats of its own (STYLE.md 2: cross-cutting
// behaviour is a decorator, like leveldb's EnvWrapper). The block loop names the phase with a
// TrafficMeter::Phase scope; traffic outside any scope is counted under kOtherPhase.
//
// What is counted, and when:
//   bytes_sent      data.size() of each isend the inner Communicator accepted, when posted
//   bytes_received  data.size() of each irecv the inner Communicator accepted, when posted (a
//                   receive completes with exactly that size or fails: communicator.h)
//   wait_s          wall time spent inside Request::wait, whatever it returned, charged to the
//                   phase current when the wait began (so a phase's wall = its compute + its
//                   waits; a wait on a transfer an earlier phase posted counts where it blocks)
//   wall_s          time inside each Phase scope (not counted by CountingComm: by the scope)
// test() is not a wait: it never blocks. Authentication MACs and transport headers are below
// the counting layer (wrap the outermost Communicator), so bytes are the protocols' payload.
//
// Ownership: CountingComm borrows `inner` and `meter`, which must outlive it and every Request it
// returned. Thread-safety: TrafficMeter is thread-safe (one mutex); a CountingComm is as `inner`.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace ringmaster::comm {

// What one phase of a rank's run did.
struct PhaseTraffic {
  std::string name;    // "attention", "fit", ..., or kOtherPhase
  int64_t scopes = 0;  // Phase scopes entered (blocks run, for a block kind)
  double wall_s = 0;   // inside those scopes
  double wait_s = 0;   // blocked in Request::wait
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  int64_t messages_sent = 0;
  int64_t messages_received = 0;
};

// Traffic outside every Phase scope (model load, head, end-of-job collectives).
inline constexpr const char* kOtherPhase = "other";

class TrafficMeter {
 public:
  // Names the phase until destroyed; nests (the outer phase resumes). Entering "", or the phase
  // already current, is a no-op, so a phase's wall time is never counted twice.
  class Phase {
   public:
    Phase(TrafficMeter* meter, std::string name);
    ~Phase();
    Phase(const Phase&) = delete;
    Phase& operator=(const Phase&) = delete;

   private:
    TrafficMeter* meter_;  // null: counts nothing
    std::string previous_;
    std::chrono::steady_clock::time_point start_;
  };

  // The phase current now: the innermost open scope's name, or kOtherPhase.
  std::string current() const;

  void add_sent(const std::string& phase, int64_t bytes);
  void add_received(const std::string& phase, int64_t bytes);
  void add_wait(const std::string& phase, double seconds);

  // Every phase seen, in first-seen order.
  std::vector<PhaseTraffic> phases() const;
  // Sums over phases (name "total"; scopes and wall_s are the phases' sums).
  PhaseTraffic total() const;

 private:
  PhaseTraffic& slot(const std::string& name);  // REQUIRES: mutex_ held

  mutable std::mutex mutex_;
  std::string current_;  // guarded by mutex_; empty: kOtherPhase
  std::vector<PhaseTraffic> phases_;
};

class CountingComm final : public Communicator {
 public:
  CountingComm(Communicator& inner, TrafficMeter& meter) : inner_(inner), meter_(meter) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override;
  std::chrono::milliseconds step_timeout() const override { return inner_.step_timeout(); }

 private:
  Communicator& inner_;
  TrafficMeter& meter_;
};

}  // namespace ringmaster::comm
