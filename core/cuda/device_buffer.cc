#include "core/cuda/device_buffer.h"

#include <string>

#include "core/cuda/cuda_status.h"

namespace ringmaster {

StatusOr<std::shared_ptr<Buffer>> allocate_device(size_t bytes, int device) {
  const std::string what =
      "allocating " + std::to_string(bytes) + " bytes on cuda:" + std::to_string(device);
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)).with_context(what));
  void* data = nullptr;
  // cudaMalloc(0) may return null; a 1-byte allocation keeps every buffer's pointer distinct.
  RM_RETURN_IF_ERROR(cuda_status(cudaMalloc(&data, bytes > 0 ? bytes : 1)).with_context(what));
  // Zero-filled before returning: plain cudaMemset runs on the legacy default stream, which does
  // not order against the non-blocking streams every user writes on, so the fill could land
  // after their first writes. Fill on this thread's stream and wait for it.
  Status zero = cuda_status(cudaMemsetAsync(data, 0, bytes, cudaStreamPerThread));
  if (zero.ok()) zero = cuda_status(cudaStreamSynchronize(cudaStreamPerThread));
  if (!zero.ok()) {
    cudaFree(data);
    return zero.with_context(what);
  }
  // cudaFree's error is ignored: the memory is gone either way and a destructor cannot fail.
  return Buffer::borrow(data, bytes, Device::cuda(device), /*writable=*/true,
                        [data] { cudaFree(data); });
}

StatusOr<Tensor> empty_on_device(const Shape& shape, DType dtype, int device) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  RM_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> buffer, allocate_device(bytes, device));
  return Tensor::from_buffer(std::move(buffer), 0, shape, dtype);
}

Status copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return ok_status();
  // Plain cudaMemcpy may return before a device-to-device copy is done, and the legacy stream
  // it uses does not order against non-blocking streams: queue on this thread's stream and wait.
  RM_RETURN_IF_ERROR(
      cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cudaStreamPerThread))
          .with_context("copy_bytes"));
  return cuda_status(cudaStreamSynchronize(cudaStreamPerThread)).with_context("copy_bytes");
}

Status copy_bytes_async(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return ok_status();
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream))
      .with_context("copy_bytes_async");
}

}  // namespace ringmaster
