// tests/unit/comm/nccl_test_group.h: NcclComm groups in one process (one thread and one GPU per
// rank, the unique id made in-process), and HostStagingComm, a test decorator that lets
// host-memory tests drive a device-memory Communicator through a per-rank device arena.
//
// Thread-compatible, like the Communicators it builds.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/make_communicator.h"
#include "core/cuda/cuda_status.h"
#include "core/status.h"

namespace ringmaster::comm::testing {

// CUDA devices visible to this process; 0 without a driver or a GPU.
inline int visible_gpus() {
  if (!cuda_device_available()) return 0;
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

// `world` NcclComms, rank r on GPU r, as the coordinator and P workers would make them: one
// unique id, each rank's address, then every connect at once (NCCL init is collective).
// REQUIRES: visible_gpus() >= world.
inline StatusOr<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(
    int world, std::chrono::milliseconds step_timeout,
    std::chrono::milliseconds abort_timeout = std::chrono::seconds(30)) {
  CommSpec spec;
  spec.backend = CommSpec::kNccl;
  spec.nccl_abort_timeout = abort_timeout;
  RM_ASSIGN_OR_RETURN(const std::vector<std::byte> job_id, make_job_id(spec));
  std::vector<std::unique_ptr<CommBootstrap>> boots;
  std::vector<std::vector<std::byte>> addresses;
  for (int r = 0; r < world; ++r) {
    spec.local_rank = r;
    RM_ASSIGN_OR_RETURN(std::unique_ptr<CommBootstrap> boot, make_bootstrap(spec));
    addresses.push_back(boot->address());
    boots.push_back(std::move(boot));
  }
  std::vector<std::unique_ptr<Communicator>> group(static_cast<size_t>(world));
  std::vector<Status> statuses(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      const auto i = static_cast<size_t>(r);
      StatusOr<std::unique_ptr<Communicator>> comm =
          boots[i]->connect(r, addresses, step_timeout, job_id);
      if (comm.ok()) {
        group[i] = std::move(comm).value();
      } else {
        statuses[i] = comm.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& status : statuses) RM_RETURN_IF_ERROR(status);
  return group;
}

// A device buffer on `device`, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer(int device, size_t bytes) : device_(device), bytes_(bytes) {
    if (bytes_ == 0) return;
    (void)cudaSetDevice(device_);
    if (cudaMalloc(&data_, bytes_) != cudaSuccess) data_ = nullptr;
  }
  ~DeviceBuffer() {
    if (data_ == nullptr) return;
    (void)cudaSetDevice(device_);
    (void)cudaFree(data_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  bool ok() const { return bytes_ == 0 || data_ != nullptr; }
  std::byte* data() const { return static_cast<std::byte*>(data_); }
  size_t size() const { return bytes_; }
  MutableView view() const { return {data(), bytes_}; }

 private:
  int device_;
  size_t bytes_;
  void* data_ = nullptr;
};

// Copies `host` to `device` memory, or back. Synchronous; for tests.
inline Status copy_to_device(int device, std::byte* dst, ConstView src) {
  if (src.empty()) return ok_status();
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)));
  return cuda_status(cudaMemcpy(dst, src.data(), src.size(), cudaMemcpyHostToDevice));
}
inline Status copy_to_host(int device, MutableView dst, const std::byte* src) {
  if (dst.empty()) return ok_status();
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)));
  return cuda_status(cudaMemcpy(dst.data(), src, dst.size(), cudaMemcpyDeviceToHost));
}

// Device memory for HostStagingComm's messages, allocated once: cudaMalloc and cudaFree
// synchronize the device, so calling them per message, while another rank's NCCL kernel spins
// waiting for this rank, can deadlock. Ranges are taken first-fit, 256-byte aligned, and given
// back when their message's Request goes. Thread-safe (a Request may be dropped on any thread).
class StagingArena {
 public:
  static constexpr size_t kDefaultBytes = size_t{64} << 20;  // the conformance suite's peak < 32

  StagingArena(int device, size_t bytes) : buffer_(device, bytes) {
    if (buffer_.ok()) free_[0] = bytes;
  }
  StagingArena(const StagingArena&) = delete;
  StagingArena& operator=(const StagingArena&) = delete;

  bool ok() const { return buffer_.ok(); }

  // `bytes` of the arena, or null when no free range is large enough.
  std::byte* take(size_t bytes) {
    const size_t need = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
    std::lock_guard lock(mu_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < need) continue;
      const size_t offset = it->first, left = it->second - need;
      free_.erase(it);
      if (left > 0) free_[offset + need] = left;
      taken_[offset] = need;
      return buffer_.data() + offset;
    }
    return nullptr;
  }

  // Gives back a range from take(), merging it with free neighbours.
  void give_back(std::byte* data) {
    std::lock_guard lock(mu_);
    const auto taken = taken_.find(static_cast<size_t>(data - buffer_.data()));
    if (taken == taken_.end()) return;
    size_t offset = taken->first, bytes = taken->second;
    taken_.erase(taken);
    if (auto next = free_.find(offset + bytes); next != free_.end()) {
      bytes += next->second;
      free_.erase(next);
    }
    if (auto prev = free_.lower_bound(offset); prev != free_.begin()) {
      --prev;
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        bytes += prev->second;
        free_.erase(prev);
      }
    }
    free_[offset] = bytes;
  }

 private:
  static constexpr size_t kAlign = 256;
  DeviceBuffer buffer_;
  std::mutex mu_;
  std::map<size_t, size_t> free_;   // offset -> bytes
  std::map<size_t, size_t> taken_;  // offset -> bytes
};

// Wraps a device-memory Communicator for tests written against host memory: each isend copies
// its data into the rank's staging arena first, each irecv receives into the arena and copies
// it back to the caller's buffer when the transfer completes (in test() or wait()). The arena
// is allocated here, before any transfer, never per message (see StagingArena).
class HostStagingComm final : public Communicator {
 public:
  HostStagingComm(std::unique_ptr<Communicator> inner, int device,
                  size_t arena_bytes = StagingArena::kDefaultBytes)
      : inner_(std::move(inner)),
        device_(device),
        arena_(std::make_shared<StagingArena>(device, arena_bytes)) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::chrono::milliseconds step_timeout() const override { return inner_->step_timeout(); }

  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override {
    RM_ASSIGN_OR_RETURN(Slot staged, take(data.size(), "send"));
    RM_RETURN_IF_ERROR(copy_to_device(device_, staged.data(), data));
    RM_ASSIGN_OR_RETURN(Request inner, inner_->isend(peer, staged.view(), tag));
    return Request(
        std::make_unique<Staged>(std::move(inner), std::move(staged), MutableView{}, device_));
  }

  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override {
    RM_ASSIGN_OR_RETURN(Slot staged, take(data.size(), "receive"));
    RM_ASSIGN_OR_RETURN(Request inner, inner_->irecv(peer, staged.view(), tag));
    return Request(std::make_unique<Staged>(std::move(inner), std::move(staged), data, device_));
  }

 private:
  // One message's range of the arena, given back on destruction.
  class Slot {
   public:
    Slot(std::shared_ptr<StagingArena> arena, std::byte* data, size_t bytes)
        : arena_(std::move(arena)), data_(data), bytes_(bytes) {}
    Slot(Slot&& other) noexcept
        : arena_(std::move(other.arena_)), data_(other.data_), bytes_(other.bytes_) {
      other.data_ = nullptr;
    }
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (arena_ && data_) arena_->give_back(data_);
    }

    std::byte* data() const { return data_; }
    MutableView view() const { return {data_, bytes_}; }

   private:
    std::shared_ptr<StagingArena> arena_;
    std::byte* data_;
    size_t bytes_;
  };

  StatusOr<Slot> take(size_t bytes, const char* what) {
    if (!arena_->ok()) return internal_error("cudaMalloc of the staging arena failed");
    std::byte* data = arena_->take(bytes);
    if (data == nullptr) {
      return internal_error(std::string("HostStagingComm: no room for a ") + what + " of " +
                            std::to_string(bytes) + " bytes in the staging arena");
    }
    return Slot(arena_, data, bytes);
  }

  class Staged final : public RequestImpl {
   public:
    Staged(Request inner, Slot staged, MutableView host, int device)
        : inner_(std::move(inner)), staged_(std::move(staged)), host_(host), device_(device) {}
    // Drops the inner Request before its staging range (members go in reverse order).
    ~Staged() override { inner_ = Request(); }

    bool test() override {
      if (!inner_.test()) return false;
      if (!copied_) (void)finish(inner_.wait(std::chrono::steady_clock::now()));
      return true;
    }
    Status wait(Deadline deadline) override { return finish(inner_.wait(deadline)); }

   private:
    Status finish(Status status) {
      if (!status.ok() || copied_) return status;
      copied_ = true;
      return copy_to_host(device_, host_, staged_.data());
    }

    Request inner_;
    Slot staged_;
    MutableView host_;  // empty for sends
    int device_;
    bool copied_ = false;
  };

  std::unique_ptr<Communicator> inner_;
  int device_;
  std::shared_ptr<StagingArena> arena_;
};

}  // namespace ringmaster::comm::testing
