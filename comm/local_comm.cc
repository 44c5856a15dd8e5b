#include "comm/local_comm.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

namespace ringmaster::comm {

namespace internal {

// A receive posted before its message arrived; filled by the sender's thread under the mutex.
struct LocalRecv {
  int src = 0;
  int dst = 0;
  Tag tag;
  MutableView data;
  bool done = false;
  Status status;
};

using LocalKey = std::tuple<int, int, uint64_t>;  // (src, dst, packed tag)

struct LocalMailbox {
  LocalMailbox(int num_ranks, LocalComm::CopyBytes copy_fn)
      : world(num_ranks), copy(copy_fn), dead(static_cast<size_t>(num_ranks)) {}

  const int world;
  const LocalComm::CopyBytes copy;  // moves every payload byte
  std::mutex mu;
  std::condition_variable cv;  // signalled on every delivery and death
  std::vector<char> dead;      // by rank; guarded by mu
  std::map<LocalKey, std::deque<std::vector<std::byte>>> queued;      // sent, not received
  std::map<LocalKey, std::deque<std::shared_ptr<LocalRecv>>> posted;  // posted, not matched
};

}  // namespace internal

namespace {

using internal::LocalKey;
using internal::LocalMailbox;
using internal::LocalRecv;

Status copy_memory(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return ok_status();
}

// Copies `payload` into `recv` with `copy` and completes it; a size mismatch completes it with
// kDataLoss and copies nothing, as a truncated UCX receive leaves the buffer unspecified.
void deliver(LocalRecv& recv, std::span<const std::byte> payload, LocalComm::CopyBytes copy) {
  if (payload.size() != recv.data.size()) {
    recv.status =
        data_loss("rank " + std::to_string(recv.dst) + " received " +
                  std::to_string(payload.size()) + " bytes from rank " + std::to_string(recv.src) +
                  " (" + to_string(recv.tag) + "), expected " + std::to_string(recv.data.size()));
  } else if (!payload.empty()) {
    recv.status = copy(recv.data.data(), payload.data(), payload.size());
  }
  recv.done = true;
}

class LocalRecvRequest final : public RequestImpl {
 public:
  LocalRecvRequest(std::shared_ptr<LocalMailbox> mailbox, std::shared_ptr<LocalRecv> recv)
      : mailbox_(std::move(mailbox)), recv_(std::move(recv)) {}

  // An unmatched receive is withdrawn so that a later message cannot write into a buffer the
  // caller is about to free.
  ~LocalRecvRequest() override {
    std::lock_guard lock(mailbox_->mu);
    if (recv_->done) return;
    const LocalKey key{recv_->src, recv_->dst, recv_->tag.packed()};
    auto it = mailbox_->posted.find(key);
    if (it == mailbox_->posted.end()) return;
    std::erase(it->second, recv_);
    if (it->second.empty()) mailbox_->posted.erase(it);
  }

  bool test() override {
    std::lock_guard lock(mailbox_->mu);
    return finished();
  }

  Status wait(Deadline deadline) override {
    std::unique_lock lock(mailbox_->mu);
    mailbox_->cv.wait_until(lock, deadline, [&] { return finished(); });
    if (recv_->done) return recv_->status;
    const std::string what = "rank " + std::to_string(recv_->dst) + " receiving from rank " +
                             std::to_string(recv_->src) + " (" + to_string(recv_->tag) + ")";
    if (mailbox_->dead[static_cast<size_t>(recv_->dst)]) {
      return unavailable(what + ": this rank is dead");
    }
    if (mailbox_->dead[static_cast<size_t>(recv_->src)]) {
      return unavailable(what + ": rank " + std::to_string(recv_->src) + " is dead");
    }
    return deadline_exceeded(what + ": no message by the deadline");
  }

 private:
  // REQUIRES: mailbox_->mu held.
  bool finished() const {
    return recv_->done || mailbox_->dead[static_cast<size_t>(recv_->src)] ||
           mailbox_->dead[static_cast<size_t>(recv_->dst)];
  }

  std::shared_ptr<LocalMailbox> mailbox_;
  std::shared_ptr<LocalRecv> recv_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> LocalComm::make_local_group(
    int world, std::chrono::milliseconds step_timeout, CopyBytes copy) {
  RM_CHECK(world >= 1) << "world " << world;
  auto mailbox = std::make_shared<LocalMailbox>(world, copy ? copy : copy_memory);
  std::vector<std::unique_ptr<Communicator>> group;
  for (int r = 0; r < world; ++r) {
    group.push_back(std::make_unique<LocalComm>(r, step_timeout, mailbox));
  }
  return group;
}

LocalComm::LocalComm(int rank, std::chrono::milliseconds step_timeout,
                     std::shared_ptr<internal::LocalMailbox> mailbox)
    : rank_(rank), step_timeout_(step_timeout), mailbox_(std::move(mailbox)) {}

int LocalComm::size() const { return mailbox_->world; }

Status LocalComm::check_call(int peer, Tag tag, const char* what) const {
  if (peer < 0 || peer >= size() || peer == rank_) {
    return invalid_argument("rank " + std::to_string(rank_) + " " + what + " peer " +
                            std::to_string(peer) + " of " + std::to_string(size()) + " ranks");
  }
  if (!tag.fits()) {
    return invalid_argument("rank " + std::to_string(rank_) + " " + what + " tag out of range (" +
                            to_string(tag) + ")");
  }
  return ok_status();
}

StatusOr<Request> LocalComm::isend(int peer, ConstView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_call(peer, tag, "isend to"));
  std::lock_guard lock(mailbox_->mu);
  if (mailbox_->dead[static_cast<size_t>(rank_)]) {
    return unavailable("rank " + std::to_string(rank_) + " is dead");
  }
  if (mailbox_->dead[static_cast<size_t>(peer)]) {
    return unavailable("rank " + std::to_string(rank_) + " sending to rank " +
                       std::to_string(peer) + " (" + to_string(tag) + "): rank " +
                       std::to_string(peer) + " is dead");
  }
  const LocalKey key{rank_, peer, tag.packed()};
  auto it = mailbox_->posted.find(key);
  if (it != mailbox_->posted.end()) {
    std::shared_ptr<LocalRecv> recv = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) mailbox_->posted.erase(it);
    deliver(*recv, data, mailbox_->copy);
    mailbox_->cv.notify_all();
  } else {
    // Queued in host memory; `data` may be device memory, so it goes through the copy too
    // (host-only groups keep the one-pass copy of the vector's constructor).
    if (mailbox_->copy == copy_memory) {
      mailbox_->queued[key].emplace_back(data.begin(), data.end());
      return Request();
    }
    std::vector<std::byte> payload(data.size());
    if (!data.empty()) {
      RM_RETURN_IF_ERROR(mailbox_->copy(payload.data(), data.data(), data.size())
                             .with_context("rank " + std::to_string(rank_) + " sending to rank " +
                                           std::to_string(peer)));
    }
    mailbox_->queued[key].push_back(std::move(payload));
  }
  return Request();  // eager: complete on return
}

StatusOr<Request> LocalComm::irecv(int peer, MutableView data, Tag tag) {
  RM_RETURN_IF_ERROR(check_call(peer, tag, "irecv from"));
  auto recv = std::make_shared<LocalRecv>();
  recv->src = peer;
  recv->dst = rank_;
  recv->tag = tag;
  recv->data = data;
  std::lock_guard lock(mailbox_->mu);
  if (mailbox_->dead[static_cast<size_t>(rank_)]) {
    return unavailable("rank " + std::to_string(rank_) + " is dead");
  }
  const LocalKey key{peer, rank_, tag.packed()};
  auto it = mailbox_->queued.find(key);
  if (it != mailbox_->queued.end()) {
    deliver(*recv, it->second.front(), mailbox_->copy);
    it->second.pop_front();
    if (it->second.empty()) mailbox_->queued.erase(it);
  } else {
    mailbox_->posted[key].push_back(recv);
  }
  return Request(std::make_unique<LocalRecvRequest>(mailbox_, std::move(recv)));
}

void LocalComm::mark_dead() {
  std::lock_guard lock(mailbox_->mu);
  mailbox_->dead[static_cast<size_t>(rank_)] = true;
  // A dead process keeps nothing: drop what was queued for it.
  std::erase_if(mailbox_->queued,
                [&](const auto& entry) { return std::get<1>(entry.first) == rank_; });
  mailbox_->cv.notify_all();
}

}  // namespace ringmaster::comm
