#include "coordinator/branch_results.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "proto/convert.h"

namespace ringmaster::coordinator {
namespace {

// Log-likelihoods are sums of log-probabilities (<= 0); a little rounding above 0 is allowed.
constexpr double kMaxLogLikelihood = 1e-6;

}  // namespace

BranchResults::BranchResults(const pb::JobSpec& job, const comm::PartitionPlan& plan) {
  const comm::RecordLayout layout = proto::to_record_layout(job);
  const pb::ModelJob& m = job.model();
  owner_.reserve(static_cast<size_t>(m.branches_size()));
  for (const pb::Branch& branch : m.branches()) {
    owner_.push_back(plan.owner_of(layout.start(branch.record()) + branch.base() - 1));
  }
  have_.assign(owner_.size(), 0);
  log_likelihoods_.assign(owner_.size(), 0.0);
  expected_.assign(static_cast<size_t>(plan.world()), 0);
  received_.assign(static_cast<size_t>(plan.world()), 0);
  for (const int32_t r : owner_) ++expected_[static_cast<size_t>(r)];
}

Status BranchResults::add(int rank, const pb::ResultChunk& chunk) {
  const std::string who = "rank " + std::to_string(rank);
  // Branches are marked as they pass, which also catches a duplicate inside this chunk; on error
  // the marks are undone.
  auto fail = [&](int marked, Status status) {
    for (int j = 0; j < marked; ++j) have_[static_cast<size_t>(chunk.branches(j).branch())] = 0;
    return status;
  };
  const auto num_branches = static_cast<int64_t>(owner_.size());
  for (int i = 0; i < chunk.branches_size(); ++i) {
    const pb::BranchResult& b = chunk.branches(i);
    const int64_t branch = b.branch();
    const std::string what = who + " sent branch " + std::to_string(branch);
    if (branch < 0 || branch >= num_branches) {
      return fail(i, invalid_argument(what + " outside [0, " + std::to_string(num_branches) + ")"));
    }
    const int32_t owner = owner_[static_cast<size_t>(branch)];
    if (owner != rank) {
      return fail(i, invalid_argument(what + ", whose position base - 1 the plan gives rank " +
                                      std::to_string(owner)));
    }
    if (have_[static_cast<size_t>(branch)] != 0) return fail(i, data_loss(what + " twice"));
    if (!std::isfinite(b.log_likelihood()) || b.log_likelihood() > kMaxLogLikelihood) {
      return fail(
          i, invalid_argument(what + " with log-likelihood " + std::to_string(b.log_likelihood()) +
                              ", not a finite sum of log-probabilities"));
    }
    have_[static_cast<size_t>(branch)] = 1;
  }
  for (const pb::BranchResult& b : chunk.branches()) {
    log_likelihoods_[static_cast<size_t>(b.branch())] = b.log_likelihood();
  }
  received_[static_cast<size_t>(rank)] += chunk.branches_size();
  received_total_ += chunk.branches_size();
  return ok_status();
}

void BranchResults::remove(int rank, const pb::ResultChunk& chunk) {
  for (const pb::BranchResult& b : chunk.branches()) {
    have_[static_cast<size_t>(b.branch())] = 0;
    log_likelihoods_[static_cast<size_t>(b.branch())] = 0.0;
  }
  received_[static_cast<size_t>(rank)] -= chunk.branches_size();
  received_total_ -= chunk.branches_size();
}

Status BranchResults::check_done(int rank) const {
  const int64_t expected = expected_[static_cast<size_t>(rank)];
  const int64_t received = received_[static_cast<size_t>(rank)];
  if (received != expected) {
    return data_loss("rank " + std::to_string(rank) + " finished with " + std::to_string(received) +
                     " branch results received; the plan gives it " + std::to_string(expected));
  }
  return ok_status();
}

void BranchResults::clear() {
  std::fill(have_.begin(), have_.end(), uint8_t{0});
  std::fill(received_.begin(), received_.end(), int64_t{0});
  std::fill(log_likelihoods_.begin(), log_likelihoods_.end(), 0.0);
  received_total_ = 0;
}

}  // namespace ringmaster::coordinator
