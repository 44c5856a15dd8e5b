#include "comm/ucx/ucx_comm.h"

#include <spdlog/spdlog.h>
#include <ucp/api/ucp.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define RINGMASTER_UCX_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGMASTER_UCX_LSAN 1
#endif
#endif

#ifdef RINGMASTER_UCX_LSAN
// LeakSanitizer reads this at start. A UCX worker kept past a close that never finished
// (UcxWorker::left_behind_) holds small blocks that UCX points to only from its own mmap'd pools,
// which LeakSanitizer does not scan, so they read as leaks at exit. Only blocks UCX allocated
// are excused (its libraries on the stack); this program's own leaks are still reported.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libucs.so\nleak:libucp.so\nleak:libuct.so\n";
}
#endif

namespace ringmaster::comm {

Status ucs_error_status(ucs_status_t status, const char* file, int line) {
  std::string message = std::string(file ? file : "?") + ":" + std::to_string(line) +
                        ": ucx: " + ucs_status_string(status) + " (" +
                        std::to_string(static_cast<int>(status)) + ")";
  switch (status) {
    case UCS_ERR_MESSAGE_TRUNCATED:
      return data_loss(std::move(message));
    case UCS_ERR_TIMED_OUT:
      return deadline_exceeded(std::move(message));
    case UCS_ERR_CANCELED:
      return cancelled(std::move(message));
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
    case UCS_ERR_OUT_OF_RANGE:
    case UCS_ERR_EXCEEDS_LIMIT:
    case UCS_ERR_NO_ELEM:
      return invalid_argument(std::move(message));
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_IO_ERROR:
    case UCS_ERR_NO_DEVICE:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_CONNECTION_RESET:
      return unavailable(std::move(message));
    default:
      break;
  }
  if (UCS_IS_LINK_ERROR(status) || UCS_IS_ENDPOINT_ERROR(status)) {
    return unavailable(std::move(message));
  }
  return internal_error(std::move(message));
}

namespace internal {

struct ContextDeleter {
  void operator()(ucp_context_h context) const { ucp_cleanup(context); }
};
struct WorkerDeleter {
  void operator()(ucp_worker_h worker) const { ucp_worker_destroy(worker); }
};
using ContextPtr = std::unique_ptr<ucp_context, ContextDeleter>;
using WorkerPtr = std::unique_ptr<ucp_worker, WorkerDeleter>;

namespace {

struct EndpointClose {
  ucp_ep_h ep;
  bool force;  // for a failed peer: a flush would never be acknowledged
};

// Starts every close, then progresses the worker until all finish or kUcxCloseTimeout passes.
// Closing in parallel bounds the whole shutdown, not each endpoint, by the timeout. Returns how
// many closes did not finish (their endpoints are left to UCX, half torn down).
size_t close_endpoints(ucp_worker_h worker, const std::vector<EndpointClose>& closes) {
  std::vector<void*> pending;
  for (const EndpointClose& close : closes) {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = close.force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    void* request = ucp_ep_close_nbx(close.ep, &param);
    // An error here still releases the endpoint (ucp.h), so there is nothing left to undo.
    if (UCS_PTR_IS_PTR(request)) pending.push_back(request);
  }
  const Deadline deadline = std::chrono::steady_clock::now() + kUcxCloseTimeout;
  while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
    ucp_worker_progress(worker);
    std::erase_if(pending, [](void* request) {
      if (ucp_request_check_status(request) == UCS_INPROGRESS) return false;
      ucp_request_free(request);
      return true;
    });
  }
  if (!pending.empty()) {
    // A live peer that stopped progressing never acknowledges the flush. Releasing the requests
    // lets ucp_worker_destroy reclaim the endpoints.
    spdlog::warn("ucx: {} endpoint(s) not closed within {} ms; dropping them", pending.size(),
                 kUcxCloseTimeout.count());
    for (void* request : pending) ucp_request_free(request);
  }
  return pending.size();
}

// ucp contexts and workers deliberately never destroyed (~UcxWorker says when), kept reachable
// so that LeakSanitizer does not report them.
void keep_forever(ucp_context_h context, ucp_worker_h worker) {
  static std::mutex mutex;
  static auto* kept = new std::vector<std::pair<ucp_context_h, ucp_worker_h>>();
  const std::lock_guard lock(mutex);
  kept->emplace_back(context, worker);
}

}  // namespace

// Closes one endpoint; used where endpoints are released one by one (a failed connect()).
struct EndpointDeleter {
  ucp_worker_h worker = nullptr;
  void operator()(ucp_ep_h ep) const { close_endpoints(worker, {{ep, /*force=*/true}}); }
};
using EndpointPtr = std::unique_ptr<ucp_ep, EndpointDeleter>;

class UcxWorker;

// One peer's endpoint and health. The error handler writes `failed` from inside
// ucp_worker_progress; atomics keep it sound should UCX ever call it from its async thread.
struct UcxPeer {
  UcxWorker* owner = nullptr;
  int rank = 0;
  EndpointPtr ep;
  std::atomic<int> failure{UCS_OK};  // the ucs_status_t UCX reported, or our own reason
  std::atomic<bool> failed{false};
};

// The context, worker and endpoints of one rank, shared by its UcxComm and Requests.
class UcxWorker {
 public:
  UcxWorker(ContextPtr context, WorkerPtr worker)
      : context_(std::move(context)), worker_(std::move(worker)) {}

  // Closes the endpoints, then destroys the worker and the context (member order), unless a
  // transfer was dropped or UCX was left holding state that it cannot tear down (left_behind_).
  ~UcxWorker() {
    for (const Unexpected& message : unexpected_) discard(message.message);
    if (dropped_ > 0) {
      spdlog::warn("ucx: rank {} dropped {} unexpected message(s), {} bytes, in all", rank_,
                   dropped_, dropped_bytes_);
    }
    std::vector<EndpointClose> closes;
    for (auto& peer : peers_) {
      if (peer && peer->ep) closes.push_back({peer->ep.release(), peer->failed.load()});
    }
    if (dropped_transfers_.load() && !closes.empty()) {
      // The job failed: a peer may be dead without UCX knowing yet, and closing means progressing
      // the worker until UCX notices, which is where 1.13 asserts (see left_behind_; seen when a
      // worker was killed mid ring step). The endpoints stay open for the process's exit.
      spdlog::info("ucx: rank {}: transfers were dropped; leaving {} endpoint(s) open", rank_,
                   closes.size());
      keep_forever(context_.release(), worker_.release());
      return;
    }
    if (!closes.empty()) left_behind_ += close_endpoints(worker_.get(), closes);
    if (left_behind_ > 0) {
      spdlog::warn(
          "ucx: rank {}: {} endpoint close(s) or request(s) never finished; keeping its "
          "UCX worker and context until the process exits instead of destroying them",
          rank_, left_behind_);
      keep_forever(context_.release(), worker_.release());
    }
  }

  // Records UCX state that will never finish: a request leaked, an endpoint close dropped.
  void leave_behind() { ++left_behind_; }
  // Records that a transfer was dropped unfinished or a peer failed: the job did not end cleanly.
  void drop_transfers() { dropped_transfers_.store(true); }

  ucp_worker_h worker() const { return worker_.get(); }
  int rank() const { return rank_; }
  int world() const { return world_; }
  UcxPeer& peer(int rank) { return *peers_[static_cast<size_t>(rank)]; }

  // Creates the endpoints of rank `rank`, in PEER error mode so that a failed peer completes
  // our requests with an error instead of hanging them.
  Status connect(int rank, const std::vector<std::vector<std::byte>>& addresses) {
    rank_ = rank;
    world_ = static_cast<int>(addresses.size());
    peers_.resize(addresses.size());
    for (int r = 0; r < world_; ++r) {
      if (r == rank_) continue;
      auto peer = std::make_unique<UcxPeer>();
      peer->owner = this;
      peer->rank = r;
      ucp_ep_params_t params{};
      params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                          UCP_EP_PARAM_FIELD_ERR_HANDLER;
      params.address =
          reinterpret_cast<const ucp_address_t*>(addresses[static_cast<size_t>(r)].data());
      params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
      params.err_handler.cb = &UcxWorker::on_endpoint_error;
      params.err_handler.arg = peer.get();
      ucp_ep_h ep = nullptr;
      RM_RETURN_IF_ERROR(ucs_status(ucp_ep_create(worker_.get(), &params, &ep))
                             .with_context("rank " + std::to_string(rank_) +
                                           " connecting to rank " + std::to_string(r)));
      peer->ep = EndpointPtr(ep, EndpointDeleter{worker_.get()});
      peers_[static_cast<size_t>(r)] = std::move(peer);
    }
    return ok_status();
  }

  // One round of progress, then every message that arrived with no receive posted for it is taken
  // out of UCX's unexpected queue into this rank's own, which is bounded (see take_unexpected).
  unsigned progress() {
    const unsigned events = ucp_worker_progress(worker_.get());
    drain_unexpected();
    return events;
  }

  // The oldest stored message with exactly `tag` (a wire tag), removed from the store; none if
  // none arrived unexpected. UCX's queue is drained first, so arrival order is kept: a message
  // still in UCX's queue is younger than every stored one.
  std::optional<ucp_tag_message_h> take_unexpected(uint64_t tag) {
    drain_unexpected();
    for (auto it = unexpected_.begin(); it != unexpected_.end(); ++it) {
      if (it->tag != tag) continue;
      const ucp_tag_message_h message = it->message;
      unexpected_bytes_ -= it->length;
      unexpected_.erase(it);
      return message;
    }
    return std::nullopt;
  }

  // Abandons the connection to `peer` (fail-stop): its outstanding sends complete with
  // UCS_ERR_CANCELED, later calls for it fail, and the peer sees the connection go.
  void abandon(UcxPeer& peer, const char* why) {
    spdlog::warn("ucx: rank {} closing its endpoint to rank {}: {}", rank_, peer.rank, why);
    drop_transfers();
    if (!peer.failed.load()) {
      peer.failure.store(UCS_ERR_CANCELED);
      peer.failed.store(true);
    }
    if (peer.ep)
      left_behind_ += close_endpoints(worker_.get(), {{peer.ep.release(), /*force=*/true}});
  }

 private:
  static void on_endpoint_error(void* arg, ucp_ep_h /*ep*/, ucs_status_t status) {
    auto* peer = static_cast<UcxPeer*>(arg);
    spdlog::warn("ucx: rank {}: rank {} failed: {}", peer->owner->rank_, peer->rank,
                 ucs_status_string(status));
    peer->failure.store(status);
    peer->failed.store(true);
    peer->owner->drop_transfers();
  }

  // A message UCX received before any receive matched it (ucp_tag_probe_nb took it out of
  // UCX's unexpected queue); its payload stays with UCX (eager) or the sender (rendezvous) until
  // ucp_tag_msg_recv_nbx.
  struct Unexpected {
    uint64_t tag;
    size_t length;
    ucp_tag_message_h message;
  };

  // UCX buffers unmatched messages without limit, so a stranger who reaches the endpoint could
  // fill this process's memory. Every progress round moves them into unexpected_, up to
  // kUcxMaxUnexpectedMessages and kUcxMaxUnexpectedBytes (a message counts its whole length: the
  // sender, not this rank, decides whether UCX holds the payload here); the rest, and messages
  // whose tag names no peer, are received into nothing, counted and logged (rate-limited).
  void drain_unexpected() {
    ucp_tag_recv_info_t info{};
    while (ucp_tag_message_h message = ucp_tag_probe_nb(worker_.get(), 0, 0, 1, &info)) {
      const auto src = static_cast<int>(info.sender_tag >> 48);
      const char* why = nullptr;
      if (src >= world_ || src == rank_) {
        why = "its tag names no peer";
      } else if (unexpected_.size() >= kUcxMaxUnexpectedMessages ||
                 unexpected_bytes_ + info.length > kUcxMaxUnexpectedBytes) {
        why = "the unexpected-message store is full";
      }
      if (why == nullptr) {
        unexpected_.push_back({info.sender_tag, info.length, message});
        unexpected_bytes_ += info.length;
        continue;
      }
      ++dropped_;
      dropped_bytes_ += info.length;
      if (dropped_ <= 8 || dropped_ % 1000 == 0) {
        spdlog::warn(
            "ucx: rank {} dropped unexpected message #{} (tag {:#x} claiming rank {}, {} bytes, "
            "{} stored): {}",
            rank_, dropped_, info.sender_tag, src, info.length, unexpected_.size(), why);
      }
      discard(message);
    }
  }

  // Receives `message` into nothing: UCX reports it truncated and releases it (a rendezvous
  // sender is told, so its send completes). The request frees itself on completion.
  void discard(ucp_tag_message_h message) {
    ucp_request_param_t param{};
    void* request = ucp_tag_msg_recv_nbx(worker_.get(), nullptr, 0, message, &param);
    if (UCS_PTR_IS_PTR(request)) ucp_request_free(request);
  }

  ContextPtr context_;
  WorkerPtr worker_;
  std::vector<std::unique_ptr<UcxPeer>> peers_;  // by rank; null for this rank
  int rank_ = -1;
  int world_ = 0;
  std::deque<Unexpected> unexpected_;  // in arrival order
  size_t unexpected_bytes_ = 0;
  uint64_t dropped_ = 0;
  uint64_t dropped_bytes_ = 0;
  // Endpoint closes that did not finish within kUcxCloseTimeout, and requests leaked unfinished.
  // UCX 1.13 cannot destroy a worker that holds them: ucp_worker_destroy purges such an endpoint's
  // lanes and asserts (SIGABRT) on a pending wireup reply (ucp_request.c:684, an assertion UCX
  // 1.14 removed, openucx/ucx 9ccaf31) or on its protocol requests (ucp_ep.c:437). A force close
  // of a shared-memory lane whose peer has exited is one: its flush waits for a reader that is
  // gone until keepalive notices (seen when a worker is killed mid ring step). So the worker and
  // context are kept, not destroyed: a bounded leak of a job that failed anyway.
  size_t left_behind_ = 0;
  // A transfer was dropped unfinished (a cancelled or failed job): ~UcxWorker then closes nothing.
  // Atomic for the same reason as UcxPeer::failed.
  std::atomic<bool> dropped_transfers_{false};
};

}  // namespace internal

namespace {

using internal::UcxPeer;
using internal::UcxWorker;

// How long a dropped receive may take to complete after its cancel and its endpoint's close.
constexpr std::chrono::milliseconds kUcxDroppedReceiveTimeout{100};

// Empty progress calls before a waiting thread yields its core: other ranks of an in-process
// group, or the compute threads, may need it to make the progress we are waiting for.
constexpr int kSpinsBeforeYield = 64;

uint64_t wire_tag(int src, Tag tag) { return (uint64_t(unsigned(src)) << 48) | tag.packed(); }
constexpr uint64_t kFullMask = ~uint64_t{0};

// Completion state that UCX's callback writes, on the waiting thread, inside progress.
struct UcxOp {
  bool done = false;
  ucs_status_t status = UCS_OK;
  size_t length = 0;  // bytes received
};

void on_send_done(void* /*request*/, ucs_status_t status, void* user_data) {
  auto* op = static_cast<UcxOp*>(user_data);
  op->status = status;
  op->done = true;
}

void on_recv_done(void* /*request*/, ucs_status_t status, const ucp_tag_recv_info_t* info,
                  void* user_data) {
  auto* op = static_cast<UcxOp*>(user_data);
  op->status = status;
  op->length = info != nullptr ? info->length : 0;
  op->done = true;
}

class UcxRequest final : public RequestImpl {
 public:
  enum Kind { kSend, kRecv };

  UcxRequest(std::shared_ptr<UcxWorker> worker, Kind kind, int peer, Tag tag, size_t bytes,
             std::unique_ptr<UcxOp> op)
      : worker_(std::move(worker)),
        kind_(kind),
        peer_(peer),
        tag_(tag),
        bytes_(bytes),
        op_(std::move(op)) {}

  // `request` is UCX's handle for the in-flight operation; none means it completed at once.
  void set_handle(void* request) { request_ = request; }

  // An incomplete receive is cancelled (UCX completes it with UCS_ERR_CANCELED). A send cannot
  // be cancelled in UCX 1.13, and the transport may still read its buffer, so the peer's
  // endpoint is closed by force, which completes the send. So is the endpoint of a receive that
  // was already matched (a rendezvous under way cannot be cancelled): a cancelled shard drops
  // its transfers mid-flight (core/cancel.h), and a request left incomplete here would make
  // ucp_worker_destroy abort on the endpoint's outstanding protocol requests.
  ~UcxRequest() override {
    if (request_ == nullptr) return;
    if (!op_->done) {
      worker_->drop_transfers();
      if (kind_ == kRecv) {
        ucp_request_cancel(worker_->worker(), request_);
        for (int i = 0; i < kSpinsBeforeYield && !op_->done; ++i) {
          ucp_worker_progress(worker_->worker());
        }
        if (!op_->done && worker_->peer(peer_).ep) {
          worker_->abandon(worker_->peer(peer_), "a receive under way was dropped");
        }
      } else if (!worker_->peer(peer_).failed.load()) {
        // (After a peer failure UCX completes the send itself, with an error.)
        worker_->abandon(worker_->peer(peer_), "a send was dropped before it completed");
      }
      // A send completes once its endpoint is closed. A receive from a peer that died mid-message
      // may never complete (UCX 1.13); with its endpoint closed it can be leaked safely, and a
      // cancelled shard must not spend its second here.
      const Deadline deadline = std::chrono::steady_clock::now() +
                                (kind_ == kRecv ? kUcxDroppedReceiveTimeout : kUcxCloseTimeout);
      while (!op_->done && std::chrono::steady_clock::now() < deadline) {
        ucp_worker_progress(worker_->worker());
      }
    }
    if (!op_->done) {
      spdlog::error("ucx: rank {}: a {} of rank {} ({}) did not stop; leaking its state",
                    worker_->rank(), kind_ == kSend ? "send" : "receive", peer_, to_string(tag_));
      ucp_request_free(request_);  // no callback after this, so op_ may go
      worker_->leave_behind();
      return;
    }
    ucp_request_free(request_);
  }

  bool test() override {
    if (!op_->done) worker_->progress();
    return op_->done || worker_->peer(peer_).failed.load();
  }

  Status wait(Deadline deadline) override {
    UcxPeer& peer = worker_->peer(peer_);
    int idle = 0;
    while (!op_->done) {
      // A failed peer never completes a receive (they are posted on the worker, not on its
      // endpoint), so its failure has to be checked here.
      if (peer.failed.load()) {
        return unavailable(what() + ": rank " + std::to_string(peer_) + " failed (" +
                           ucs_status_string(static_cast<ucs_status_t>(peer.failure.load())) + ")");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return deadline_exceeded(what() + ": not complete by the deadline");
      }
      if (worker_->progress() != 0) {
        idle = 0;
      } else if (++idle >= kSpinsBeforeYield) {
        idle = 0;
        std::this_thread::yield();
      }
    }
    return finish();
  }

 private:
  std::string what() const {
    return "rank " + std::to_string(worker_->rank()) +
           (kind_ == kSend ? " sending to rank " : " receiving from rank ") +
           std::to_string(peer_) + " (" + to_string(tag_) + ", " + std::to_string(bytes_) +
           " bytes)";
  }

  Status finish() const {
    if (op_->status == UCS_OK) {
      if (kind_ == kRecv && op_->length != bytes_) {
        return data_loss(what() + ": message has " + std::to_string(op_->length) + " bytes");
      }
      return ok_status();
    }
    if (op_->status == UCS_ERR_MESSAGE_TRUNCATED) {
      return data_loss(what() + ": message is larger than the buffer");
    }
    const UcxPeer& peer = worker_->peer(peer_);
    if (peer.failed.load()) {
      return unavailable(what() + ": rank " + std::to_string(peer_) + " failed (" +
                         ucs_status_string(op_->status) + ")");
    }
    return ucs_status(op_->status).with_context(what());
  }

  std::shared_ptr<UcxWorker> worker_;
  Kind kind_;
  int peer_;
  Tag tag_;
  size_t bytes_;
  std::unique_ptr<UcxOp> op_;
  void* request_ = nullptr;
};

class UcxComm final : public Communicator {
 public:
  UcxComm(std::shared_ptr<UcxWorker> worker, std::chrono::milliseconds step_timeout)
      : worker_(std::move(worker)), step_timeout_(step_timeout) {}

  int rank() const override { return worker_->rank(); }
  int size() const override { return worker_->world(); }
  std::chrono::milliseconds step_timeout() const override { return step_timeout_; }

  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override {
    RM_RETURN_IF_ERROR(check_call(peer, tag, "isend to"));
    UcxPeer& target = worker_->peer(peer);
    if (target.failed.load() || !target.ep) return peer_failed(peer, tag);
    auto op = std::make_unique<UcxOp>();
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &on_send_done;
    param.user_data = op.get();
    void* request =
        ucp_tag_send_nbx(target.ep.get(), data.data(), data.size(), wire_tag(rank(), tag), &param);
    if (request == nullptr) return Request();  // sent eagerly; the buffer is free again
    if (UCS_PTR_IS_ERR(request)) {
      return ucs_status(UCS_PTR_STATUS(request))
          .with_context("rank " + std::to_string(rank()) + " sending to rank " +
                        std::to_string(peer) + " (" + to_string(tag) + ")");
    }
    auto impl = std::make_unique<UcxRequest>(worker_, UcxRequest::kSend, peer, tag, data.size(),
                                             std::move(op));
    impl->set_handle(request);
    return Request(std::move(impl));
  }

  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override {
    RM_RETURN_IF_ERROR(check_call(peer, tag, "irecv from"));
    auto op = std::make_unique<UcxOp>();
    ucp_request_param_t param{};
    // No immediate completion: UCX 1.13.1 completes a receive that matches an already-arrived
    // message inside the call without filling param->recv_info, so its length would be lost.
    // With NO_IMM_CMPL the callback always runs and reports the length.
    param.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    param.cb.recv = &on_recv_done;
    param.user_data = op.get();
    // A message that already arrived (and was moved out of UCX's queue) comes first.
    const std::optional<ucp_tag_message_h> early = worker_->take_unexpected(wire_tag(peer, tag));
    void* request =
        early ? ucp_tag_msg_recv_nbx(worker_->worker(), data.data(), data.size(), *early, &param)
              : ucp_tag_recv_nbx(worker_->worker(), data.data(), data.size(), wire_tag(peer, tag),
                                 kFullMask, &param);
    if (UCS_PTR_IS_ERR(request)) {
      return ucs_status(UCS_PTR_STATUS(request))
          .with_context("rank " + std::to_string(rank()) + " receiving from rank " +
                        std::to_string(peer) + " (" + to_string(tag) + ")");
    }
    RM_CHECK(request != nullptr) << "ucp_tag_recv_nbx completed in place despite NO_IMM_CMPL";
    auto impl = std::make_unique<UcxRequest>(worker_, UcxRequest::kRecv, peer, tag, data.size(),
                                             std::move(op));
    impl->set_handle(request);
    return Request(std::move(impl));
  }

 private:
  Status check_call(int peer, Tag tag, const char* what) const {
    if (peer < 0 || peer >= size() || peer == rank()) {
      return invalid_argument("rank " + std::to_string(rank()) + " " + what + " peer " +
                              std::to_string(peer) + " of " + std::to_string(size()) + " ranks");
    }
    if (!tag.fits()) {
      return invalid_argument("rank " + std::to_string(rank()) + " " + what +
                              " tag out of range (" + to_string(tag) + ")");
    }
    return ok_status();
  }

  Status peer_failed(int peer, Tag tag) {
    const UcxPeer& target = worker_->peer(peer);
    return unavailable("rank " + std::to_string(rank()) + " sending to rank " +
                       std::to_string(peer) + " (" + to_string(tag) + "): rank " +
                       std::to_string(peer) + " failed (" +
                       ucs_status_string(static_cast<ucs_status_t>(target.failure.load())) + ")");
  }

  std::shared_ptr<UcxWorker> worker_;
  std::chrono::milliseconds step_timeout_;
};

// Whether a UCX_TLS list may select a shared-memory transport ("^..." excludes, so it may).
bool may_use_shared_memory(const std::string& transports) {
  if (transports.empty() || transports.front() == '^') return true;
  size_t begin = 0;
  while (begin <= transports.size()) {
    size_t end = transports.find(',', begin);
    if (end == std::string::npos) end = transports.size();
    const std::string name = transports.substr(begin, end - begin);
    for (const char* shm : {"shm", "sm", "mm", "posix", "sysv", "all"}) {
      if (name == shm) return true;
    }
    begin = end + 1;
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<UcxBootstrap>> UcxBootstrap::create(const UcxOptions& options) {
  ucp_config_t* raw_config = nullptr;
  RM_RETURN_IF_ERROR(ucs_status(ucp_config_read(nullptr, nullptr, &raw_config)));
  std::unique_ptr<ucp_config_t, void (*)(ucp_config_t*)> config(raw_config, &ucp_config_release);
  if (!options.transports.empty()) {
    RM_RETURN_IF_ERROR(
        ucs_status(ucp_config_modify(config.get(), "TLS", options.transports.c_str()))
            .with_context("UCX transports '" + options.transports + "'"));
  }
  if (!options.net_devices.empty()) {
    RM_RETURN_IF_ERROR(
        ucs_status(ucp_config_modify(config.get(), "NET_DEVICES", options.net_devices.c_str()))
            .with_context("UCX network devices '" + options.net_devices + "'"));
  }
  if (options.shared_memory && may_use_shared_memory(options.transports)) {
    // A uct setting of the mm transports (sysv, posix; UCX_POSIX_ERROR_HANDLING in the
    // environment): ucp_config_modify caches it and applies it to their interfaces, under the
    // name their config table gives it. UCX warns about a cached key no transport used.
    RM_RETURN_IF_ERROR(ucs_status(ucp_config_modify(config.get(), "MM_ERROR_HANDLING", "y")));
  }
  if (options.keepalive_interval.count() > 0) {
    const std::string interval = std::to_string(options.keepalive_interval.count()) + "ms";
    RM_RETURN_IF_ERROR(
        ucs_status(ucp_config_modify(config.get(), "KEEPALIVE_INTERVAL", interval.c_str())));
  }

  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_TAG;
  ucp_context_h context = nullptr;
  RM_RETURN_IF_ERROR(
      ucs_status(ucp_init(&params, config.get(), &context))
          .with_context("initialising UCX (transports '" + options.transports + "')"));
  internal::ContextPtr context_ptr(context);

  // SERIALIZED: one thread at a time, but not always the same one (a bootstrap may be made on
  // one thread and its communicator driven from another).
  ucp_worker_params_t worker_params{};
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  ucp_worker_h worker = nullptr;
  RM_RETURN_IF_ERROR(ucs_status(ucp_worker_create(context, &worker_params, &worker)));
  internal::WorkerPtr worker_ptr(worker);

  ucp_address_t* address = nullptr;
  size_t address_length = 0;
  RM_RETURN_IF_ERROR(ucs_status(ucp_worker_get_address(worker, &address, &address_length)));
  std::vector<std::byte> blob(address_length);
  std::memcpy(blob.data(), address, address_length);
  ucp_worker_release_address(worker, address);

  auto shared =
      std::make_shared<internal::UcxWorker>(std::move(context_ptr), std::move(worker_ptr));
  return std::unique_ptr<UcxBootstrap>(new UcxBootstrap(std::move(shared), std::move(blob)));
}

UcxBootstrap::UcxBootstrap(std::shared_ptr<internal::UcxWorker> worker,
                           std::vector<std::byte> address)
    : worker_(std::move(worker)), address_(std::move(address)) {}

UcxBootstrap::~UcxBootstrap() = default;

std::vector<std::byte> UcxBootstrap::address() const { return address_; }

StatusOr<std::unique_ptr<Communicator>> UcxBootstrap::connect(
    int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
    std::chrono::milliseconds step_timeout, ConstView /*job_id*/) {
  if (!worker_) return failed_precondition("UCX bootstrap: connect called twice");
  const size_t world = peer_addresses.size();
  if (world == 0 || world > size_t{kUcxMaxRanks} || rank < 0 ||
      static_cast<size_t>(rank) >= world) {
    return invalid_argument("UCX connect: rank " + std::to_string(rank) + " of a " +
                            std::to_string(world) + "-rank table (at most " +
                            std::to_string(kUcxMaxRanks) + " ranks)");
  }
  for (size_t r = 0; r < world; ++r) {
    if (r != static_cast<size_t>(rank) && peer_addresses[r].empty()) {
      return invalid_argument("UCX connect: rank " + std::to_string(r) + " has no address");
    }
  }
  std::shared_ptr<internal::UcxWorker> worker = std::move(worker_);
  RM_RETURN_IF_ERROR(worker->connect(rank, peer_addresses));
  return std::unique_ptr<Communicator>(std::make_unique<UcxComm>(std::move(worker), step_timeout));
}

}  // namespace ringmaster::comm
