// core/cuda/device_buffer.h: Tensors whose bytes live in GPU memory, and moving bytes to and from
// them.
//
// A device Tensor is an ordinary Tensor (core/tensor.h) over a Buffer on Device::cuda(i): the
// Buffer borrows a cudaMalloc'd pointer and its release callback frees it, so slices and copies
// of the Tensor keep the memory alive exactly as host tensors do. Host code must never
// dereference its data (data<T>() returns a device pointer). core/ itself stays CUDA-free; this
// is target ringmaster_core_cuda, built only when RINGMASTER_CUDA is on.
//
// Thread-safety: the functions are thread-safe; a device Tensor is a value like any Tensor.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "core/status.h"
#include "core/tensor.h"

namespace ringmaster {

// `bytes` of zero-filled memory on GPU `device`, freed when the last user lets go. The zeros are
// in place when it returns, so work on any stream may write it at once. kInternal (naming the
// device and size) when the device is absent or out of memory.
StatusOr<std::shared_ptr<Buffer>> allocate_device(size_t bytes, int device);

// A new zero-filled tensor on GPU `device`.
StatusOr<Tensor> empty_on_device(const Shape& shape, DType dtype, int device);

// Copies `bytes` between any two of host and device memory (cudaMemcpyDefault: unified
// addressing tells which side each pointer is on) and returns when the copy is done, device to
// device included. Work queued on other streams is not waited for: its owner synchronizes.
// Usable as LocalComm's copy function (comm/local_comm.h), for P ranks sharing one GPU.
Status copy_bytes(void* dst, const void* src, size_t bytes);

// As copy_bytes, queued on `stream`; returns at once for device-to-device copies. The host side
// of a copy must stay alive and unchanged until the stream reaches it.
Status copy_bytes_async(void* dst, const void* src, size_t bytes, cudaStream_t stream);

}  // namespace ringmaster
