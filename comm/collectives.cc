#include "comm/collectives.h"

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace ringmaster::comm {

namespace {

// One collective's schedule: every peer exchanges at most one message with every other, so the
// caller's tag alone identifies it. All receives are posted before any send, so a rendezvous
// send never waits on a receive that its own rank has yet to post.
class Exchange {
 public:
  explicit Exchange(Communicator& comm) : comm_(comm) {}

  // Peers are visited in the fixed order rank+1, rank+2, ... (mod P): the same on every run.
  int peer(int i) const { return (comm_.rank() + i) % comm_.size(); }

  Status recv(int peer, MutableView data, Tag tag) {
    RM_ASSIGN_OR_RETURN(Request request, comm_.irecv(peer, data, tag));
    requests_.push_back(std::move(request));
    return ok_status();
  }
  Status send(int peer, ConstView data, Tag tag) {
    RM_ASSIGN_OR_RETURN(Request request, comm_.isend(peer, data, tag));
    requests_.push_back(std::move(request));
    return ok_status();
  }

  // Waits for every transfer, even after one fails, so that a healthy peer's transfer is not
  // abandoned half way; returns the first error in posting order.
  Status wait_all() {
    const Deadline deadline = step_deadline(comm_);
    Status first;
    for (Request& request : requests_) {
      Status status = request.wait(deadline);
      if (first.ok() && !status.ok()) first = std::move(status);
    }
    requests_.clear();
    return first;
  }

 private:
  Communicator& comm_;
  std::vector<Request> requests_;
};

void copy_bytes(MutableView dst, ConstView src) {
  if (!src.empty()) std::memcpy(dst.data(), src.data(), src.size());
}

}  // namespace

Status all_gather(Communicator& comm, ConstView mine, MutableView all, Tag tag) {
  const size_t world = static_cast<size_t>(comm.size());
  const size_t n = mine.size();
  if (all.size() != world * n) {
    return invalid_argument("all_gather on rank " + std::to_string(comm.rank()) + ": output of " +
                            std::to_string(all.size()) + " bytes, expected " +
                            std::to_string(world) + " x " + std::to_string(n));
  }
  Exchange exchange(comm);
  for (int i = 1; i < comm.size(); ++i) {
    const int p = exchange.peer(i);
    RM_RETURN_IF_ERROR(exchange.recv(p, all.subspan(static_cast<size_t>(p) * n, n), tag));
  }
  for (int i = 1; i < comm.size(); ++i) {
    RM_RETURN_IF_ERROR(exchange.send(exchange.peer(i), mine, tag));
  }
  copy_bytes(all.subspan(static_cast<size_t>(comm.rank()) * n, n), mine);
  return exchange.wait_all();
}

Status all_to_all(Communicator& comm, ConstView send, MutableView recv, Tag tag) {
  const size_t world = static_cast<size_t>(comm.size());
  if (send.size() != recv.size() || send.size() % world != 0) {
    return invalid_argument("all_to_all on rank " + std::to_string(comm.rank()) + ": send " +
                            std::to_string(send.size()) + " bytes, recv " +
                            std::to_string(recv.size()) + ", need equal multiples of " +
                            std::to_string(world));
  }
  const std::vector<size_t> counts(world, send.size() / world);
  return all_to_all_v(comm, send, counts, recv, counts, tag);
}

Status all_to_all_v(Communicator& comm, ConstView send, std::span<const size_t> send_counts,
                    MutableView recv, std::span<const size_t> recv_counts, Tag tag) {
  const size_t world = static_cast<size_t>(comm.size());
  const size_t me = static_cast<size_t>(comm.rank());
  const std::string where = "all_to_all_v on rank " + std::to_string(me) + ": ";
  if (send_counts.size() != world || recv_counts.size() != world) {
    return invalid_argument(where + std::to_string(send_counts.size()) + " send and " +
                            std::to_string(recv_counts.size()) + " recv counts for " +
                            std::to_string(world) + " ranks");
  }
  const size_t send_total = std::accumulate(send_counts.begin(), send_counts.end(), size_t{0});
  const size_t recv_total = std::accumulate(recv_counts.begin(), recv_counts.end(), size_t{0});
  if (send_total != send.size() || recv_total != recv.size()) {
    return invalid_argument(where + "counts sum to " + std::to_string(send_total) + " and " +
                            std::to_string(recv_total) + " bytes, buffers hold " +
                            std::to_string(send.size()) + " and " + std::to_string(recv.size()));
  }
  if (send_counts[me] != recv_counts[me]) {
    return invalid_argument(where + "sends itself " + std::to_string(send_counts[me]) +
                            " bytes but expects " + std::to_string(recv_counts[me]));
  }
  std::vector<size_t> send_offsets(world, 0);
  std::vector<size_t> recv_offsets(world, 0);
  std::exclusive_scan(send_counts.begin(), send_counts.end(), send_offsets.begin(), size_t{0});
  std::exclusive_scan(recv_counts.begin(), recv_counts.end(), recv_offsets.begin(), size_t{0});

  Exchange exchange(comm);
  for (int i = 1; i < comm.size(); ++i) {
    const size_t p = static_cast<size_t>(exchange.peer(i));
    RM_RETURN_IF_ERROR(
        exchange.recv(static_cast<int>(p), recv.subspan(recv_offsets[p], recv_counts[p]), tag));
  }
  for (int i = 1; i < comm.size(); ++i) {
    const size_t p = static_cast<size_t>(exchange.peer(i));
    RM_RETURN_IF_ERROR(
        exchange.send(static_cast<int>(p), send.subspan(send_offsets[p], send_counts[p]), tag));
  }
  copy_bytes(recv.subspan(recv_offsets[me], recv_counts[me]),
             send.subspan(send_offsets[me], send_counts[me]));
  return exchange.wait_all();
}

}  // namespace ringmaster::comm
