#include "core/cuda/cuda_status.h"

#include <string>
#include <utility>

namespace ringmaster {

Status cuda_error_status(cudaError_t err, const char* file, int line) {
  std::string message = std::string(file ? file : "?") + ":" + std::to_string(line) + ": " +
                        cudaGetErrorName(err) + " (" + std::to_string(static_cast<int>(err)) +
                        "): " + cudaGetErrorString(err);
  return internal_error(std::move(message));
}

bool cuda_device_available() {
  static const bool available = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      // No driver (cudaErrorInsufficientDriver) or no device (cudaErrorNoDevice). Clear the
      // last error so a later cudaGetLastError does not report this query.
      (void)cudaGetLastError();
      return false;
    }
    return count > 0;
  }();
  return available;
}

}  // namespace ringmaster
