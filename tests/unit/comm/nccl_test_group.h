// tests/unit/comm/nccl_test_group.h: NcclComm groups in one process (one thread and one GPU per
// rank, the unique id made in-process), and HostStagingComm, a test decorator that lets
// host-memory tests drive a device-memory Communicator.
//
// Thread-compatible, like the Communicators it builds.
#pragma once

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstddef>
#include <memory>
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

// Wraps a device-memory Communicator for tests written against host memory: each isend copies
// its data to a fresh device buffer first, each irecv receives into one and copies it back to
// the caller's buffer when the transfer completes (in test() or wait()).
class HostStagingComm final : public Communicator {
 public:
  HostStagingComm(std::unique_ptr<Communicator> inner, int device)
      : inner_(std::move(inner)), device_(device) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  std::chrono::milliseconds step_timeout() const override { return inner_->step_timeout(); }

  StatusOr<Request> isend(int peer, ConstView data, Tag tag) override {
    auto staged = std::make_unique<DeviceBuffer>(device_, data.size());
    if (!staged->ok()) return internal_error("cudaMalloc of a send staging buffer failed");
    RM_RETURN_IF_ERROR(copy_to_device(device_, staged->data(), data));
    RM_ASSIGN_OR_RETURN(Request inner, inner_->isend(peer, staged->view(), tag));
    return Request(
        std::make_unique<Staged>(std::move(inner), std::move(staged), MutableView{}, device_));
  }

  StatusOr<Request> irecv(int peer, MutableView data, Tag tag) override {
    auto staged = std::make_unique<DeviceBuffer>(device_, data.size());
    if (!staged->ok()) return internal_error("cudaMalloc of a receive staging buffer failed");
    RM_ASSIGN_OR_RETURN(Request inner, inner_->irecv(peer, staged->view(), tag));
    return Request(std::make_unique<Staged>(std::move(inner), std::move(staged), data, device_));
  }

 private:
  class Staged final : public RequestImpl {
   public:
    Staged(Request inner, std::unique_ptr<DeviceBuffer> staged, MutableView host, int device)
        : inner_(std::move(inner)), staged_(std::move(staged)), host_(host), device_(device) {}
    // Drops the inner Request before its staging buffer (members go in reverse order).
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
      return copy_to_host(device_, host_, staged_->data());
    }

    Request inner_;
    std::unique_ptr<DeviceBuffer> staged_;
    MutableView host_;  // empty for sends
    int device_;
    bool copied_ = false;
  };

  std::unique_ptr<Communicator> inner_;
  int device_;
};

}  // namespace ringmaster::comm::testing
