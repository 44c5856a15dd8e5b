// coordinator/registry.h: the workers that have registered for the job, and which rank each gets.
//
// Workers register in any order, each with an optional rank hint (SLURM_PROCID and friends).
// Ranks are assigned once all `world` workers are in: a hint is honoured when it is inside the
// world and no earlier worker claimed the same rank; every other worker takes the lowest free
// rank, in join order. So `srun` launches keep their SLURM ranks, hint-less launches get join
// order, and a conflicting hint costs a warning, never the job. Before that, missing_ranks()
// says which ranks nobody would fill yet, for the join-timeout message.
//
// Spares (recovery, opt-in): workers that register after the first `world` are spares, up to
// `spares` of them; they get no rank at the start and stand by to replace a dead worker.
//
// Pure bookkeeping: no sockets, no clocks. Thread-compatible (the coordinator's strand owns it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::coordinator {

struct WorkerInfo {
  std::string host;
  int64_t pid = 0;
  int rank_hint = -1;  // -1: none
  std::vector<std::byte> comm_address;
  std::string peer_name;  // the control connection's remote address, for logs
};

// "rank 2 (node7 pid 4242)" or "worker node7 pid 4242" when no rank is known yet.
std::string describe_worker(const WorkerInfo& info, int rank);

class Registry {
 public:
  // REQUIRES: world >= 1, spares >= 0.
  explicit Registry(int world, int spares = 0);

  int world() const { return world_; }
  int size() const { return static_cast<int>(workers_.size()); }
  // Enough workers to start: every rank has one (spares may still come).
  bool full() const { return size() >= world_; }
  bool is_spare(int index) const { return index >= world_; }

  // Adds a registered worker and returns its index (join order). kFailedPrecondition when the
  // job already has `world` workers and all its spares.
  StatusOr<int> add(WorkerInfo info);
  const WorkerInfo& worker(int index) const { return workers_[static_cast<size_t>(index)]; }

  // The rank of each of the first `world` workers, by index, per the rule above; also the
  // warnings for ignored hints.
  // REQUIRES: full().
  struct Assignment {
    std::vector<int> rank_of;    // [worker index] -> rank
    std::vector<int> worker_of;  // [rank] -> worker index
    std::vector<std::string> warnings;
  };
  Assignment assign() const;

  // The ranks no registered worker would get yet (ascending): world - size() of them.
  std::vector<int> missing_ranks() const;

 private:
  // Ranks for the workers registered so far: hints first, then the lowest free rank.
  Assignment tentative() const;

  int world_;
  int spares_;
  std::vector<WorkerInfo> workers_;
};

}  // namespace ringmaster::coordinator
