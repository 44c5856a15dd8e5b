// worker/attention_backend.h: the one place a worker chooses where attention (and with it the
// ATLAS memory and the block stack's dense layers) computes (the job's --device), and whether the
// check job's data may live on the GPU.
//
// make_attention_backend is the only code with #if RINGMASTER_HAVE_CUDA outside the CUDA targets:
// a build without CUDA refuses "cuda" and maps "auto" to the CPU. Which GPU: this worker's local
// rank (its rank among the workers of its host) modulo the number of visible GPUs, so workers
// sharing a host spread over its GPUs and more workers than GPUs share them. Thread-safe.
#pragma once

#include <memory>
#include <stop_token>
#include <string_view>

#include "attention/backend.h"
#include "comm/make_communicator.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/shard.h"

namespace ringmaster::worker {

enum class ComputeDevice { kCpu, kCuda, kAuto };

// "cpu", "cuda", "auto"; kInvalidArgument naming the value otherwise.
StatusOr<ComputeDevice> parse_compute_device(std::string_view name);
const char* compute_device_name(ComputeDevice device);

// The backend for `device`: CPU over `pool` (which must outlive it), CUDA on GPU
// local_rank % count, or for kAuto CUDA when this build has it and a GPU is visible, else CPU.
// kFailedPrecondition, saying so plainly, when kCuda is asked of a build without CUDA or a host
// where no GPU is visible; kInternal when the GPU cannot be set up. The CPU backend stops
// between tiles once `stop` is requested (core/cancel.h); a CUDA block is short, and the callers
// stop between blocks. `compute` (kF32 or kBf16) is what the CPU backend's products read.
StatusOr<std::shared_ptr<attention::AttentionBackend>> make_attention_backend(
    ComputeDevice device, int local_rank, ThreadPool& pool, std::stop_token stop = {},
    DType compute = DType::kF32);

// The block stack's dense layers (model/layer_backend.h) on `device`: the CPU's over `pool` (which
// must outlive it), or a GPU's. kInternal when the GPU cannot be set up.
StatusOr<std::shared_ptr<model::LayerBackend>> make_layer_backend(Device device, ThreadPool& pool);

// The backends of a model job, beside `attention`: its ATLAS chains (one stream and cuBLAS
// handle per pool thread) and its residual stream, norms, MLPs and projections
// (model/cuda/layer_backend_cuda.h) on the same GPU, or both on the CPU over `pool` (which must
// outlive them). kInternal when the GPU cannot be set up.
StatusOr<model::ShardBackends> make_model_backends(
    std::shared_ptr<attention::AttentionBackend> attention, ThreadPool& pool);

// Whether the check job keeps q, k, v and the ring's blocks on the backend's device: only when
// the data plane carries device memory (NCCL; a world of one rank never transfers). UCX here
// moves host memory, so a GPU backend over UCX keeps them on the host and uploads per block.
bool check_data_on_device(const attention::AttentionBackend& backend, const comm::CommSpec& spec,
                          int world);

}  // namespace ringmaster::worker
