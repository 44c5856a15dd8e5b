#include "comm/faulty_comm.h"

#include <string>

namespace ringmaster::comm {

StatusOr<Request> FaultyComm::isend(int peer, ConstView data, Tag tag) {
  if (!faults_.drop_sends) return inner_.isend(peer, data, tag);
  // A dropped send must still reject what the real one would, or a caller's bug would hide
  // behind the fault.
  if (peer < 0 || peer >= size() || peer == rank()) {
    return invalid_argument("rank " + std::to_string(rank()) + " isend to peer " +
                            std::to_string(peer) + " of " + std::to_string(size()) + " ranks");
  }
  if (!tag.fits()) {
    return invalid_argument("rank " + std::to_string(rank()) + " isend tag out of range (" +
                            to_string(tag) + ")");
  }
  (void)data;
  return Request();  // complete: the sender believes the block left
}

}  // namespace ringmaster::comm
