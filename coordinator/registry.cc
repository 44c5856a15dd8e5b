#include "coordinator/registry.h"

#include <algorithm>

#include "core/printable.h"

namespace ringmaster::coordinator {

std::string describe_worker(const WorkerInfo& info, int rank) {
  const std::string who = (info.host.empty() ? std::string("?") : printable(info.host)) + " pid " +
                          std::to_string(info.pid);
  if (rank >= 0) return "rank " + std::to_string(rank) + " (" + who + ")";
  return "worker " + who;
}

Registry::Registry(int world, int spares) : world_(world), spares_(spares) {
  RM_CHECK(world >= 1 && spares >= 0) << "world " << world << ", spares " << spares;
}

StatusOr<int> Registry::add(WorkerInfo info) {
  if (size() >= world_ + spares_) {
    return failed_precondition("the job already has its " + std::to_string(world_) +
                               " workers and " + std::to_string(spares_) + " spares; refusing " +
                               describe_worker(info, -1));
  }
  workers_.push_back(std::move(info));
  return size() - 1;
}

Registry::Assignment Registry::tentative() const {
  Assignment a;
  const size_t ranked = std::min(workers_.size(), static_cast<size_t>(world_));
  a.rank_of.assign(ranked, -1);
  a.worker_of.assign(static_cast<size_t>(world_), -1);
  // Hints first, in join order, so the earliest claim to a rank wins.
  for (size_t i = 0; i < ranked; ++i) {
    const int hint = workers_[i].rank_hint;
    if (hint < 0) continue;
    if (hint >= world_) {
      a.warnings.push_back(describe_worker(workers_[i], -1) + " asked for rank " +
                           std::to_string(hint) + " outside a world of " + std::to_string(world_) +
                           "; hint ignored");
      continue;
    }
    if (a.worker_of[static_cast<size_t>(hint)] >= 0) {
      a.warnings.push_back(describe_worker(workers_[i], -1) + " asked for rank " +
                           std::to_string(hint) + ", already claimed; hint ignored");
      continue;
    }
    a.worker_of[static_cast<size_t>(hint)] = static_cast<int>(i);
    a.rank_of[i] = hint;
  }
  int next_free = 0;
  for (size_t i = 0; i < ranked; ++i) {
    if (a.rank_of[i] >= 0) continue;
    while (next_free < world_ && a.worker_of[static_cast<size_t>(next_free)] >= 0) ++next_free;
    // size() <= world_ and each worker takes one rank, so a free rank always exists.
    RM_CHECK(next_free < world_);
    a.worker_of[static_cast<size_t>(next_free)] = static_cast<int>(i);
    a.rank_of[i] = next_free;
  }
  return a;
}

Registry::Assignment Registry::assign() const {
  RM_CHECK(full()) << size() << " of " << world_ << " workers";
  return tentative();
}

std::vector<int> Registry::missing_ranks() const {
  const Assignment a = tentative();
  std::vector<int> missing;
  for (int r = 0; r < world_; ++r) {
    if (a.worker_of[static_cast<size_t>(r)] < 0) missing.push_back(r);
  }
  return missing;
}

}  // namespace ringmaster::coordinator
