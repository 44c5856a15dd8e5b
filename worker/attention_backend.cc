#include "worker/attention_backend.h"

#include <string>
#include <utility>

#if RINGMASTER_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "attention/cuda/cuda_backend.h"
#include "core/cuda/cuda_status.h"
#include "memory/cuda/atlas_cuda.h"
#include "model/cuda/layer_backend_cuda.h"
#endif

namespace ringmaster::worker {

StatusOr<ComputeDevice> parse_compute_device(std::string_view name) {
  if (name == "cpu") return ComputeDevice::kCpu;
  if (name == "cuda") return ComputeDevice::kCuda;
  if (name == "auto") return ComputeDevice::kAuto;
  return invalid_argument("unknown device '" + std::string(name) + "' (cpu, cuda, auto)");
}

const char* compute_device_name(ComputeDevice device) {
  switch (device) {
    case ComputeDevice::kCpu:
      return "cpu";
    case ComputeDevice::kCuda:
      return "cuda";
    case ComputeDevice::kAuto:
      return "auto";
  }
  return "?";
}

namespace {

std::shared_ptr<attention::AttentionBackend> cpu_backend(ThreadPool& pool, std::stop_token stop,
                                                         DType compute) {
  return attention::make_cpu_backend(pool, std::move(stop), compute);
}

}  // namespace

StatusOr<std::shared_ptr<attention::AttentionBackend>> make_attention_backend(
    ComputeDevice device, int local_rank, ThreadPool& pool, std::stop_token stop, DType compute) {
  if (device == ComputeDevice::kCpu) return cpu_backend(pool, std::move(stop), compute);
#if RINGMASTER_HAVE_CUDA
  if (!cuda_device_available()) {
    if (device == ComputeDevice::kAuto) return cpu_backend(pool, std::move(stop), compute);
    return failed_precondition("--device cuda: no CUDA device is visible on this host");
  }
  int count = 0;
  RM_RETURN_IF_ERROR(cuda_status(cudaGetDeviceCount(&count)));
  const int gpu = (local_rank < 0 ? 0 : local_rank) % count;
  RM_ASSIGN_OR_RETURN(std::unique_ptr<attention::AttentionBackend> cuda,
                      attention::make_cuda_backend(gpu));
  return std::shared_ptr<attention::AttentionBackend>(std::move(cuda));
#else
  (void)local_rank;
  if (device == ComputeDevice::kAuto) return cpu_backend(pool, std::move(stop), compute);
  return failed_precondition("--device cuda: this ringmaster was built without CUDA");
#endif
}

StatusOr<std::shared_ptr<model::LayerBackend>> make_layer_backend(Device device, ThreadPool& pool) {
  if (device.is_cpu()) {
    return std::shared_ptr<model::LayerBackend>(model::make_cpu_layer_backend(pool));
  }
#if RINGMASTER_HAVE_CUDA
  RM_ASSIGN_OR_RETURN(std::shared_ptr<model::LayerBackend> layers,
                      model::make_cuda_layer_backend(device.index));
  return layers;
#else
  return internal_error("a layer backend on " + device.to_string() + " in a build without CUDA");
#endif
}

StatusOr<model::ShardBackends> make_model_backends(
    std::shared_ptr<attention::AttentionBackend> attention, ThreadPool& pool) {
  model::ShardBackends backends;
  const Device device = attention->device();
  backends.attention = std::move(attention);
  RM_ASSIGN_OR_RETURN(backends.layers, make_layer_backend(device, pool));
  if (device.is_cpu()) {
    backends.atlas = memory::make_cpu_atlas_backend(pool.num_threads());
    return backends;
  }
#if RINGMASTER_HAVE_CUDA
  RM_ASSIGN_OR_RETURN(backends.atlas,
                      memory::make_cuda_atlas_backend(device.index, pool.num_threads()));
  return backends;
#else
  return internal_error("an attention backend on " + device.to_string() +
                        " in a build without CUDA");
#endif
}

bool check_data_on_device(const attention::AttentionBackend& backend, const comm::CommSpec& spec,
                          int world) {
  return !backend.device().is_cpu() && (world == 1 || spec.backend == comm::CommSpec::kNccl);
}

}  // namespace ringmaster::worker
