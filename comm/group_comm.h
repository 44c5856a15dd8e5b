// comm/group_comm.h: GroupComm, a Communicator decorator that addresses a subset of the ranks
// of `inner` as a communicator of its own (an MPI_Comm_split without the collective).
//
// Why: a 2-D scheme (the hybrid of attention/hybrid.h: Ulysses inside groups of consecutive
// ranks, ring across them) runs protocols written for a whole communicator (ring_attention, the
// collectives) over a group of its ranks. Renumbering peers in a decorator keeps the interface
// at its five methods (STYLE.md 2) and works over every backend and decorator below it.
//
// Rank i of the group is inner rank members[i]; isend and irecv translate the peer and pass the
// tag through unchanged, so two groups that share a pair of inner ranks must keep their tags
// apart (the hybrid's groups share no pair: a Ulysses group and a ring group meet in one rank).
//
// Ownership: borrows `inner`, which must outlive it and every Request it returned.
// Thread-safety: as `inner`.
#pragma once

#include <vector>

#include "comm/communicator.h"

namespace ringmaster::comm {

class GroupComm final : public Communicator {
 public:
  // REQUIRES: `members` distinct inner ranks, inner.rank() among them.
  GroupComm(Communicator& inner, std::vector<int> members);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }
  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override;
  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override;
  std::chrono::milliseconds step_timeout() const override { return inner_.step_timeout(); }

  // The inner rank of group rank `peer`. REQUIRES: 0 <= peer < size().
  int inner_rank(int peer) const { return members_[static_cast<size_t>(peer)]; }

 private:
  Status check_peer(int peer) const;

  Communicator& inner_;
  std::vector<int> members_;
  int rank_ = 0;
};

}  // namespace ringmaster::comm
