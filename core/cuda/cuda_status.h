// core/cuda/cuda_status.h: CUDA runtime errors as Status, and whether a GPU is usable here.
//
// Vendor codes convert once, at the call:
//   RM_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(...)));
// The file and line default to the caller's, so the message names the failing call's place.
// Built only when RINGMASTER_CUDA is on (target ringmaster_core_cuda). Thread-safe.
#pragma once

#include <cuda_runtime_api.h>

#include "core/status.h"

namespace ringmaster {

// The non-OK path of cuda_status: kInternal "file:line: cudaErrorName (code): description".
Status cuda_error_status(cudaError_t err, const char* file, int line);

// OK for cudaSuccess, else kInternal naming `file`:`line` and the runtime's error name and string.
inline Status cuda_status(cudaError_t err, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  if (err == cudaSuccess) return ok_status();
  return cuda_error_status(err, file, line);
}

// True when the CUDA runtime sees at least one device; false, never aborting, when there is no
// driver, no GPU, or CUDA_VISIBLE_DEVICES hides them all. Without a driver the runtime cannot
// initialise and every later CUDA call fails too (cudaErrorInsufficientDriver), so check this
// before using the GPU. Computed once per process.
bool cuda_device_available();

}  // namespace ringmaster
