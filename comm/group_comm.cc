#include "comm/group_comm.h"

#include <algorithm>
#include <string>

namespace ringmaster::comm {

GroupComm::GroupComm(Communicator& inner, std::vector<int> members)
    : inner_(inner), members_(std::move(members)) {
  const auto it = std::find(members_.begin(), members_.end(), inner_.rank());
  RM_CHECK(it != members_.end()) << "rank " << inner_.rank() << " is not in its group";
  rank_ = static_cast<int>(it - members_.begin());
}

Status GroupComm::check_peer(int peer) const {
  if (peer >= 0 && peer < size()) return ok_status();
  return invalid_argument("group peer " + std::to_string(peer) + " outside a group of " +
                          std::to_string(size()) + " ranks");
}

StatusOr<Request> GroupComm::isend(int peer, ConstView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_peer(peer));
  return inner_.isend(inner_rank(peer), data, tag);
}

StatusOr<Request> GroupComm::irecv(int peer, MutableView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_peer(peer));
  return inner_.irecv(inner_rank(peer), data, tag);
}

}  // namespace ringmaster::comm
