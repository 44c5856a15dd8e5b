#include "comm/cancellable_comm.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/cancel.h"

namespace ringmaster::comm {
namespace {

class CancellableRequest final : public RequestImpl {
 public:
  CancellableRequest(Request inner, std::stop_token stop, std::string what)
      : inner_(std::move(inner)), stop_(std::move(stop)), what_(std::move(what)) {}

  bool test() override { return inner_.test(); }

  Status wait(Deadline deadline) override {
    for (;;) {
      RM_RETURN_IF_ERROR(check_cancelled(stop_, what_));
      const Deadline slice =
          std::min(deadline, std::chrono::steady_clock::now() + kCancelPollSlice);
      Status status = inner_.wait(slice);
      // Only the slice ran out: the transfer is still posted (RequestImpl's contract).
      if (status.code() == StatusCode::kDeadlineExceeded && slice < deadline) continue;
      return status;
    }
  }

 private:
  Request inner_;
  std::stop_token stop_;
  std::string what_;
};

}  // namespace

StatusOr<Request> CancellableComm::wrap(bool send, int peer, Tag tag, StatusOr<Request> inner) {
  if (!inner.ok()) return inner.status();
  std::string what = "rank " + std::to_string(rank()) +
                     (send ? " sending to rank " : " receiving from rank ") + std::to_string(peer) +
                     " (" + to_string(tag) + ")";
  return Request(
      std::make_unique<CancellableRequest>(std::move(inner).value(), stop_, std::move(what)));
}

StatusOr<Request> CancellableComm::isend(int peer, ConstView data, Tag tag) {
  if (stop_.stop_requested()) return cancelled("rank " + std::to_string(rank()) + " isend");
  return wrap(/*send=*/true, peer, tag, inner_.isend(peer, data, tag));
}

StatusOr<Request> CancellableComm::irecv(int peer, MutableView data, Tag tag) {
  if (stop_.stop_requested()) return cancelled("rank " + std::to_string(rank()) + " irecv");
  return wrap(/*send=*/false, peer, tag, inner_.irecv(peer, data, tag));
}

}  // namespace ringmaster::comm
