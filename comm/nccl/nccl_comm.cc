#include "comm/nccl/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "core/cuda/cuda_status.h"

namespace ringmaster::comm {

Status nccl_error_status(ncclResult_t result, const char* file, int line) {
  std::string message = std::string(file ? file : "?") + ":" + std::to_string(line) +
                        ": nccl: " + ncclGetErrorString(result) + " (" +
                        std::to_string(static_cast<int>(result)) + ")";
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && *last != '\0') message += ": " + std::string(last);
  switch (result) {
    case ncclSystemError:
    case ncclRemoteError:
      return unavailable(std::move(message));
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return invalid_argument(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

StatusOr<std::vector<std::byte>> make_nccl_unique_id() {
  ncclUniqueId id;
  RM_RETURN_IF_ERROR(
      nccl_status(ncclGetUniqueId(&id)).with_context("making the job's NCCL unique id"));
  std::vector<std::byte> bytes(sizeof id);
  std::memcpy(bytes.data(), &id, sizeof id);
  return bytes;
}

namespace {

using Clock = std::chrono::steady_clock;

// What each message is preceded by, so that a receive can check what it matched.
struct Header {
  uint64_t tag = 0;  // Tag::packed()
  uint64_t bytes = 0;
};
static_assert(sizeof(Header) == 16);

// Headers in flight at once per communicator: slots of its two header slabs.
constexpr int kHeaderSlots = 4096;
// Polls before a waiting thread starts sleeping: a step's transfers often finish in microseconds.
constexpr int kSpinsBeforeSleep = 64;
constexpr auto kMaxPollSleep = std::chrono::milliseconds(1);

std::string tag_string(uint64_t packed) {
  return to_string(Tag{static_cast<uint32_t>(packed >> 32),
                       static_cast<uint32_t>((packed >> 8) & Tag::kMaxStep),
                       static_cast<uint8_t>(packed & 0xff)});
}

// Yields, then sleeps up to 1 ms (never past `deadline`) between two polls.
void pause(int& spins, Deadline deadline) {
  if (++spins < kSpinsBeforeSleep) {
    std::this_thread::yield();
    return;
  }
  const auto left = deadline - Clock::now();
  if (left > Clock::duration::zero()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(left, kMaxPollSleep));
  }
}

// Makes `device` current for the scope and restores the caller's device.
class DeviceScope {
 public:
  explicit DeviceScope(int device) : device_(device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != device_) (void)cudaSetDevice(device_);
  }
  ~DeviceScope() {
    if (previous_ >= 0 && previous_ != device_) (void)cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int device_;
  int previous_ = -1;
};

// ncclCommAbort on a thread of its own, so that a caller can stop waiting for an abort that
// hangs (RELIABILITY.md 1.1). The thread shares this record and outlives any waiter.
struct AbortJob {
  std::mutex mutex;
  std::condition_variable changed;
  bool done = false;

  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return done; });
  }
};

std::shared_ptr<AbortJob> start_abort(ncclComm_t comm, int device) {
  auto job = std::make_shared<AbortJob>();
  std::thread([job, comm, device] {
    (void)cudaSetDevice(device);
    const ncclResult_t result = ncclCommAbort(comm);
    if (result != ncclSuccess) {
      spdlog::warn("nccl: ncclCommAbort: {}", ncclGetErrorString(result));
    }
    std::lock_guard lock(job->mutex);
    job->done = true;
    job->changed.notify_all();
  }).detach();
  return job;
}

// The stream and header slabs of one communicator. Freed only once NCCL has stopped using
// them; after an abort that hung they are leaked instead.
struct DeviceResources {
  int device = 0;
  cudaStream_t stream = nullptr;
  Header* device_headers = nullptr;  // kHeaderSlots, what NCCL sends and receives
  Header* host_headers = nullptr;    // kHeaderSlots, pinned: staged for sends, copied back
  bool leaked = false;

  ~DeviceResources() {
    if (leaked) return;
    DeviceScope scope(device);
    if (stream != nullptr) (void)cudaStreamDestroy(stream);
    if (device_headers != nullptr) (void)cudaFree(device_headers);
    if (host_headers != nullptr) (void)cudaFreeHost(host_headers);
  }
};

Status make_resources(DeviceResources& r) {
  RM_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking)));
  RM_RETURN_IF_ERROR(cuda_status(
      cudaMalloc(reinterpret_cast<void**>(&r.device_headers), kHeaderSlots * sizeof(Header))));
  return cuda_status(
      cudaMallocHost(reinterpret_cast<void**>(&r.host_headers), kHeaderSlots * sizeof(Header)));
}

// One posted isend or irecv.
struct Op {
  bool send = false;
  int peer = 0;
  Tag tag;
  std::byte* data = nullptr;
  size_t bytes = 0;
  int slot = 0;
  Status status;  // set on completion
};

// The operations launched as one NCCL group, and the event recorded after it.
struct Batch {
  enum State { kPending, kEnqueuing, kEnqueued, kDone };
  State state = kPending;
  std::vector<Op> ops;
  cudaEvent_t event = nullptr;

  ~Batch() {
    if (event != nullptr) (void)cudaEventDestroy(event);
  }
};

// The NCCL communicator and everything its Requests share; see the header for the protocol.
class NcclState {
 public:
  NcclState(ncclComm_t comm, std::unique_ptr<DeviceResources> resources, int rank, int world,
            std::chrono::milliseconds abort_timeout)
      : comm_(comm),
        resources_(std::move(resources)),
        rank_(rank),
        world_(world),
        abort_timeout_(abort_timeout),
        pending_(std::make_shared<Batch>()) {
    for (int slot = kHeaderSlots - 1; slot >= 0; --slot) free_slots_.push_back(slot);
  }

  ~NcclState() {
    if (!broken_) {
      switch (finalize()) {
        case Teardown::kDestroyed:
          return;
        case Teardown::kDestroyFailed:
          // ncclCommDestroy was called: the handle is gone whatever it returned, so it must not
          // be aborted. Finalize had completed, so NCCL no longer uses the stream or headers.
          spdlog::error("nccl: {}: ncclCommDestroy failed after a clean finalize", who());
          return;
        case Teardown::kNotFinalized:
          break;
      }
      fail(unavailable(who() + ": ncclCommFinalize did not finish within " +
                       std::to_string(abort_timeout_.count()) + " ms"));
    }
    if (!wait_aborted()) {
      spdlog::error(
          "nccl: {}: ncclCommAbort did not return within {} ms; leaking its CUDA state (the "
          "process must exit with _exit)",
          who(), abort_timeout_.count());
      resources_->leaked = true;
    }
  }

  int rank() const { return rank_; }
  int world() const { return world_; }
  int device() const { return resources_->device; }
  bool broken() const { return broken_; }
  std::chrono::milliseconds abort_timeout() const { return abort_timeout_; }
  std::string who() const { return "rank " + std::to_string(rank_); }

  // kUnavailable for any call once broken, naming what broke it.
  Status broken_status(const std::string& what) const {
    return unavailable(what + ": the NCCL communicator is broken (" + why_broken_.to_string() +
                       ")");
  }

  // Validates a call and queues it in the pending batch.
  StatusOr<std::pair<std::shared_ptr<Batch>, size_t>> post(bool send, int peer, Tag tag,
                                                           std::byte* data, size_t bytes) {
    const std::string what = who() + (send ? " isend to rank " : " irecv from rank ") +
                             std::to_string(peer) + " (" + to_string(tag) + ")";
    if (broken_) return broken_status(what);
    if (peer < 0 || peer >= world_ || peer == rank_) {
      return invalid_argument(what + ": no such peer in " + std::to_string(world_) + " ranks");
    }
    if (!tag.fits()) return invalid_argument(what + ": tag out of range");
    RM_RETURN_IF_ERROR(check_device_memory(data, bytes, what));
    if (free_slots_.empty()) progress();
    if (free_slots_.empty()) {
      return failed_precondition(what + ": more than " + std::to_string(kHeaderSlots) +
                                 " messages in flight");
    }
    Op op;
    op.send = send;
    op.peer = peer;
    op.tag = tag;
    op.data = data;
    op.bytes = bytes;
    op.slot = free_slots_.back();
    free_slots_.pop_back();
    pending_->ops.push_back(op);
    return std::pair{pending_, pending_->ops.size() - 1};
  }

  // Launches the pending batch when NCCL is free and collects finished batches. Never blocks on
  // the network; any failure breaks the communicator.
  void progress() {
    if (broken_) return;
    DeviceScope scope(device());
    ncclResult_t async = ncclSuccess;
    if (Status s = nccl_status(ncclCommGetAsyncError(comm_, &async)); !s.ok()) return fail(s);
    if (async != ncclSuccess && async != ncclInProgress) {
      return fail(nccl_error_status(async, __FILE__, __LINE__)
                      .with_context(who() + ": asynchronous NCCL error"));
    }
    // ncclInProgress: NCCL is still enqueueing the last group (or wiring up a connection), and
    // takes no new call on this communicator until it is done.
    if (enqueuing_ != nullptr && async == ncclSuccess) {
      finish_enqueue(std::exchange(enqueuing_, nullptr));
      if (broken_) return;
    }
    if (enqueuing_ == nullptr && async == ncclSuccess && !pending_->ops.empty()) {
      launch();
      if (broken_) return;
    }
    // One stream: batches finish in launch order.
    while (!in_flight_.empty()) {
      const cudaError_t query = cudaEventQuery(in_flight_.front()->event);
      if (query == cudaErrorNotReady) break;
      if (query != cudaSuccess) return fail(cuda_status(query).with_context(who()));
      complete(*in_flight_.front());
      in_flight_.pop_front();
      if (broken_) return;
    }
  }

  // Breaks the communicator (once): later calls fail fast, and ncclCommAbort starts on its own
  // thread.
  void fail(Status why) {
    if (broken_) return;
    broken_ = true;
    why_broken_ = std::move(why);
    spdlog::error("nccl: {}: aborting the communicator: {}", who(), why_broken_.to_string());
    abort_ = start_abort(comm_, device());
  }

  // Waits for the abort that fail() started, up to abort_timeout; true once it has returned.
  bool wait_aborted() { return abort_ == nullptr || abort_->wait_for(abort_timeout_); }

 private:
  Status check_device_memory(const std::byte* data, size_t bytes, const std::string& what) const {
    if (bytes == 0) return ok_status();
    cudaPointerAttributes attributes{};
    const cudaError_t err = cudaPointerGetAttributes(&attributes, data);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return invalid_argument(what + ": cannot tell where its buffer lives (" +
                              cudaGetErrorString(err) + ")");
    }
    char where[32];
    std::snprintf(where, sizeof where, "%p", static_cast<const void*>(data));
    if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged) {
      return invalid_argument(what + ": the buffer at " + where +
                              " is host memory; NcclComm moves device memory only");
    }
    if (attributes.type == cudaMemoryTypeDevice && attributes.device != device()) {
      return invalid_argument(what + ": the buffer at " + where + " is on GPU " +
                              std::to_string(attributes.device) + ", the communicator on GPU " +
                              std::to_string(device()));
    }
    return ok_status();
  }

  // Stages the send headers, then one group: per op its header, then its payload.
  void launch() {
    std::shared_ptr<Batch> batch = std::exchange(pending_, std::make_shared<Batch>());
    DeviceResources& r = *resources_;
    for (const Op& op : batch->ops) {
      if (!op.send) continue;
      r.host_headers[op.slot] = Header{op.tag.packed(), op.bytes};
      if (Status s =
              cuda_status(cudaMemcpyAsync(r.device_headers + op.slot, r.host_headers + op.slot,
                                          sizeof(Header), cudaMemcpyHostToDevice, r.stream));
          !s.ok()) {
        return fail(s);
      }
    }
    Status first = nccl_status(ncclGroupStart());
    for (const Op& op : batch->ops) {
      if (!first.ok()) break;
      auto call = [&](std::byte* buffer, size_t bytes) {
        return nccl_status(op.send ? ncclSend(buffer, bytes, ncclUint8, op.peer, comm_, r.stream)
                                   : ncclRecv(buffer, bytes, ncclUint8, op.peer, comm_, r.stream));
      };
      first = call(reinterpret_cast<std::byte*>(r.device_headers + op.slot), sizeof(Header));
      if (first.ok() && op.bytes > 0) first = call(op.data, op.bytes);
    }
    // The group must be closed even after a failed call inside it.
    const ncclResult_t end = ncclGroupEnd();
    if (!first.ok()) return fail(first.with_context(who() + ": posting a group"));
    if (end == ncclInProgress) {
      batch->state = Batch::kEnqueuing;
      enqueuing_ = std::move(batch);
      return;
    }
    if (Status s = nccl_status(end); !s.ok()) return fail(s.with_context(who()));
    finish_enqueue(std::move(batch));
  }

  // The group is on the stream: copy the received headers back and record the batch's event.
  void finish_enqueue(std::shared_ptr<Batch> batch) {
    DeviceResources& r = *resources_;
    for (const Op& op : batch->ops) {
      if (op.send) continue;
      if (Status s =
              cuda_status(cudaMemcpyAsync(r.host_headers + op.slot, r.device_headers + op.slot,
                                          sizeof(Header), cudaMemcpyDeviceToHost, r.stream));
          !s.ok()) {
        return fail(s);
      }
    }
    Status s = cuda_status(cudaEventCreateWithFlags(&batch->event, cudaEventDisableTiming));
    if (s.ok()) s = cuda_status(cudaEventRecord(batch->event, r.stream));
    if (!s.ok()) return fail(s);
    batch->state = Batch::kEnqueued;
    in_flight_.push_back(std::move(batch));
  }

  // Checks each receive's header against what it was posted for, and frees the slots.
  void complete(Batch& batch) {
    Status mismatch;
    for (Op& op : batch.ops) {
      const Header got = resources_->host_headers[op.slot];
      free_slots_.push_back(op.slot);
      if (op.send || (got.tag == op.tag.packed() && got.bytes == op.bytes)) continue;
      op.status = data_loss(who() + " receiving from rank " + std::to_string(op.peer) + " (" +
                            to_string(op.tag) + ", " + std::to_string(op.bytes) +
                            " bytes) matched a message of " + tag_string(got.tag) + ", " +
                            std::to_string(got.bytes) +
                            " bytes: NCCL matches in posting order, and the two ranks posted "
                            "in different orders");
      if (mismatch.ok()) mismatch = op.status;
    }
    batch.state = Batch::kDone;
    // Unequal counts leave NCCL's channel to that peer undefined: nothing later can be trusted.
    if (!mismatch.ok()) fail(mismatch);
  }

  // How far finalize() got. Only kNotFinalized leaves a communicator that may be aborted.
  enum class Teardown { kDestroyed, kDestroyFailed, kNotFinalized };

  // Healthy teardown: every Request is gone, so nothing is in flight.
  Teardown finalize() {
    DeviceScope scope(device());
    if (!nccl_status(ncclCommFinalize(comm_)).ok()) return Teardown::kNotFinalized;
    const Deadline deadline = Clock::now() + abort_timeout_;
    int spins = 0;
    ncclResult_t state = ncclInProgress;
    while (state == ncclInProgress) {
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) return Teardown::kNotFinalized;
      if (state == ncclInProgress && Clock::now() >= deadline) return Teardown::kNotFinalized;
      if (state == ncclInProgress) pause(spins, deadline);
    }
    if (state != ncclSuccess) return Teardown::kNotFinalized;
    return ncclCommDestroy(comm_) == ncclSuccess ? Teardown::kDestroyed : Teardown::kDestroyFailed;
  }

  ncclComm_t comm_;
  std::unique_ptr<DeviceResources> resources_;
  int rank_;
  int world_;
  std::chrono::milliseconds abort_timeout_;

  std::vector<int> free_slots_;
  std::shared_ptr<Batch> pending_;                // posted, not launched
  std::shared_ptr<Batch> enqueuing_;              // launched; NCCL still enqueueing it
  std::deque<std::shared_ptr<Batch>> in_flight_;  // on the stream, in launch order
  bool broken_ = false;
  Status why_broken_;
  std::shared_ptr<AbortJob> abort_;  // set by fail()
};

class NcclRequest final : public RequestImpl {
 public:
  NcclRequest(std::shared_ptr<NcclState> state, std::shared_ptr<Batch> batch, size_t index)
      : state_(std::move(state)), batch_(std::move(batch)), index_(index) {}

  // NCCL cannot cancel one transfer: dropping a launched one breaks the communicator, and the
  // buffer is safe only once the abort has returned (bounded by abort_timeout).
  ~NcclRequest() override {
    if (batch_->state == Batch::kDone) return;
    if (!state_->broken()) {
      state_->fail(cancelled(what() + ": dropped before it completed"));
    }
    if (batch_->state != Batch::kPending && !state_->wait_aborted()) {
      spdlog::error("nccl: {}: the abort did not return; its buffer may still be written", what());
    }
  }

  bool test() override {
    state_->progress();
    return batch_->state == Batch::kDone || state_->broken();
  }

  Status wait(Deadline deadline) override {
    int spins = 0;
    for (;;) {
      state_->progress();
      if (batch_->state == Batch::kDone) return op().status;
      if (state_->broken()) return state_->broken_status(what());
      if (Clock::now() >= deadline) {
        Status expired = deadline_exceeded(
            what() +
            ": not complete by the deadline; the communicator is aborted (NCCL cannot "
            "cancel one transfer)");
        state_->fail(expired);
        return expired;
      }
      pause(spins, deadline);
    }
  }

 private:
  const Op& op() const { return batch_->ops[index_]; }

  std::string what() const {
    return state_->who() + (op().send ? " sending to rank " : " receiving from rank ") +
           std::to_string(op().peer) + " (" + to_string(op().tag) + ", " +
           std::to_string(op().bytes) + " bytes)";
  }

  std::shared_ptr<NcclState> state_;
  std::shared_ptr<Batch> batch_;
  size_t index_;
};

class NcclComm final : public Communicator {
 public:
  NcclComm(std::shared_ptr<NcclState> state, std::chrono::milliseconds step_timeout)
      : state_(std::move(state)), step_timeout_(step_timeout) {}

  int rank() const override { return state_->rank(); }
  int size() const override { return state_->world(); }
  std::chrono::milliseconds step_timeout() const override { return step_timeout_; }

  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override {
    // NCCL only reads a send buffer; its API is not const-correct.
    auto* bytes = const_cast<std::byte*>(data.data());
    return post(/*send=*/true, peer, bytes, data.size(), tag);
  }

  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override {
    return post(/*send=*/false, peer, data.data(), data.size(), tag);
  }

 private:
  StatusOr<Request> post(bool send, int peer, std::byte* data, size_t bytes, Tag tag) {
    DeviceScope scope(state_->device());
    RM_ASSIGN_OR_RETURN(auto posted, state_->post(send, peer, tag, data, bytes));
    return Request(std::make_unique<NcclRequest>(state_, std::move(posted.first), posted.second));
  }

  std::shared_ptr<NcclState> state_;
  std::chrono::milliseconds step_timeout_;
};

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

StatusOr<std::unique_ptr<NcclBootstrap>> NcclBootstrap::create(const NcclOptions& options) {
  if (!cuda_device_available()) {
    return failed_precondition(
        "the nccl backend needs a GPU and none is visible here (no driver, no device, or "
        "CUDA_VISIBLE_DEVICES hides them)");
  }
  int count = 0;
  RM_RETURN_IF_ERROR(cuda_status(cudaGetDeviceCount(&count)));
  const int device = (options.local_rank < 0 ? 0 : options.local_rank) % count;
  char bus_id[64] = {};
  RM_RETURN_IF_ERROR(cuda_status(cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device)));
  return std::unique_ptr<NcclBootstrap>(
      new NcclBootstrap(options, device, host_name() + " " + bus_id));
}

NcclBootstrap::NcclBootstrap(const NcclOptions& options, int device, std::string address)
    : options_(options), device_(device), address_(std::move(address)) {}

std::vector<std::byte> NcclBootstrap::address() const {
  const auto* begin = reinterpret_cast<const std::byte*>(address_.data());
  return {begin, begin + address_.size()};
}

StatusOr<std::unique_ptr<Communicator>> NcclBootstrap::connect(
    int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
    std::chrono::milliseconds step_timeout, ConstView job_id) {
  if (connected_) return failed_precondition("NCCL bootstrap: connect called twice");
  const int world = static_cast<int>(peer_addresses.size());
  if (world == 0 || rank < 0 || rank >= world) {
    return invalid_argument("NCCL connect: rank " + std::to_string(rank) + " of a " +
                            std::to_string(world) + "-rank table");
  }
  if (job_id.size() != kNcclUniqueIdBytes) {
    return invalid_argument("NCCL connect: the job's unique id has " +
                            std::to_string(job_id.size()) + " bytes, not " +
                            std::to_string(kNcclUniqueIdBytes) + " (the coordinator makes it)");
  }
  for (int r = 0; r < world; ++r) {
    if (r == rank) continue;
    const std::vector<std::byte>& peer = peer_addresses[static_cast<size_t>(r)];
    if (peer.empty()) {
      return invalid_argument("NCCL connect: rank " + std::to_string(r) + " has no address");
    }
    if (peer == address()) {
      return failed_precondition(
          "ranks " + std::to_string(std::min(r, rank)) + " and " +
          std::to_string(std::max(r, rank)) + " would share GPU " + address_ +
          ": NCCL needs one GPU per rank. Give each rank its own GPU (LOCAL_RANK, "
          "CUDA_VISIBLE_DEVICES), or run ranks that share a GPU as threads of one process over "
          "the local communicator, which copies device memory");
    }
  }
  connected_ = true;

  DeviceScope scope(device_);
  auto resources = std::make_unique<DeviceResources>();
  resources->device = device_;
  RM_RETURN_IF_ERROR(make_resources(*resources).with_context("rank " + std::to_string(rank)));

  ncclUniqueId id;
  std::memcpy(&id, job_id.data(), sizeof id);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // so that init, too, can be given a deadline (NVIDIA/nccl#1677)
  ncclComm_t comm = nullptr;
  const ncclResult_t started = ncclCommInitRankConfig(&comm, world, id, rank, &config);
  const std::string what = "rank " + std::to_string(rank) + " joining a " + std::to_string(world) +
                           "-rank NCCL communicator on GPU " + std::to_string(device_);
  auto give_up = [&](Status why) -> Status {
    if (comm != nullptr && !start_abort(comm, device_)->wait_for(options_.abort_timeout)) {
      spdlog::error("nccl: {}: ncclCommAbort did not return within {} ms", what,
                    options_.abort_timeout.count());
      resources->leaked = true;
    }
    return why;
  };
  if (started != ncclSuccess && started != ncclInProgress) {
    return give_up(nccl_status(started).with_context(what));
  }
  const Deadline deadline = Clock::now() + step_timeout;
  ncclResult_t state = started;
  int spins = 0;
  while (state == ncclInProgress) {
    if (Status s = nccl_status(ncclCommGetAsyncError(comm, &state)); !s.ok()) {
      return give_up(s.with_context(what));
    }
    if (state != ncclInProgress) break;
    if (Clock::now() >= deadline) {
      return give_up(deadline_exceeded(what + ": not every rank joined within " +
                                       std::to_string(step_timeout.count()) + " ms"));
    }
    pause(spins, deadline);
  }
  if (state != ncclSuccess) return give_up(nccl_status(state).with_context(what));
  auto shared =
      std::make_shared<NcclState>(comm, std::move(resources), rank, world, options_.abort_timeout);
  return std::unique_ptr<Communicator>(std::make_unique<NcclComm>(std::move(shared), step_timeout));
}

}  // namespace ringmaster::comm
