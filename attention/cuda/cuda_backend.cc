// The CUDA AttentionBackend (cuda_backend.h): argument checks and data movement around
// launch_attend_block and launch_merge. Plain C++ against the CUDA runtime; the kernels are in
// block_kernel.cu and merge.cu.
#include "attention/cuda/cuda_backend.h"

#include <cstdint>
#include <string>
#include <vector>

#include "attention/cuda/block_kernel.cuh"
#include "attention/cuda/merge.cuh"
#include "core/cuda/cuda_status.h"
#include "core/cuda/device_buffer.h"

namespace ringmaster::attention {
namespace {

// Device memory reused from call to call; it only grows. Work queued on the stream may still
// read it, so growing waits for the stream before freeing the old memory.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (data_) cudaFree(data_);
  }

  StatusOr<void*> reserve(size_t bytes, cudaStream_t stream) {
    if (bytes <= bytes_ && data_) return data_;
    RM_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream)));
    if (data_) RM_RETURN_IF_ERROR(cuda_status(cudaFree(data_)));
    data_ = nullptr;
    bytes_ = 0;
    RM_RETURN_IF_ERROR(cuda_status(cudaMalloc(&data_, bytes > 0 ? bytes : 1)));
    bytes_ = bytes;
    return data_;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

enum Slot { kQ, kK, kV, kStage, kQPos, kQSeq, kKPos, kKSeq, kOut, kLse, kNumSlots };

bool is_float(DType d) { return d == DType::kF32 || d == DType::kBf16 || d == DType::kF16; }

class CudaBackend final : public AttentionBackend {
 public:
  CudaBackend(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  ~CudaBackend() override {
    if (cudaSetDevice(device_) != cudaSuccess) return;
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  Device device() const override { return Device::cuda(device_); }

  StatusOr<Tensor> empty(const Shape& shape, DType dtype, Device where) override {
    if (where.is_cpu()) return Tensor::empty(shape, dtype);
    if (where != device()) {
      return invalid_argument(name() + " backend: cannot allocate on " + where.to_string());
    }
    return empty_on_device(shape, dtype, device_);
  }

  Status copy(const Tensor& src, const Tensor& dst) override {
    if (!mine(src) || !mine(dst) || src.bytes() != dst.bytes() ||
        (dst.bytes() > 0 && !dst.writable())) {
      return invalid_argument(name() + " backend: copy of " + src.to_string() + " into " +
                              dst.to_string());
    }
    if (src.bytes() == 0) return ok_status();
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_RETURN_IF_ERROR(copy_bytes_async(dst.mutable_raw(), src.raw(), src.bytes(), stream_));
    return cuda_status(cudaStreamSynchronize(stream_)).with_context(name() + " backend: copy");
  }

  Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Positions& q_pos, const Positions& k_pos, const MaskSpec& mask,
                           BlockResult& result) override {
    return attend(q, k, v, q_pos, k_pos, mask, result)
        .with_context(name() + " backend: attend_block_into");
  }

  Status merge_into(BlockResult& acc, const BlockResult& part) override {
    if (acc.out.shape() != part.out.shape() || acc.lse.shape() != part.lse.shape() ||
        acc.out.dtype() != DType::kF32 || part.out.dtype() != DType::kF32) {
      return invalid_argument(name() + " backend: merge_into of " + acc.out.to_string() + " and " +
                              part.out.to_string());
    }
    const bool host = acc.out.device().is_cpu() && acc.lse.device().is_cpu() &&
                      part.out.device().is_cpu() && part.lse.device().is_cpu();
    if (host) {
      attention::merge_into(acc, part);
      return ok_status();
    }
    const Tensor* const all[] = {&acc.out, &acc.lse, &part.out, &part.lse};
    for (const Tensor* t : all) {
      if (t->device() != device()) {
        return invalid_argument(name() + " backend: merge_into needs both results on the host " +
                                "or both on " + name() + ", got " + t->to_string());
      }
    }
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    const MergeParams params{.out = acc.out.data<float>(),
                             .lse = acc.lse.data<float>(),
                             .out_b = part.out.data<float>(),
                             .lse_b = part.lse.data<float>(),
                             .rows = acc.lse.numel(),
                             .head_dim = static_cast<int>(acc.out.dim(-1))};
    return launch_merge(params, stream_).with_context(name() + " backend: merge_into");
  }

  Status synchronize() override {
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    return cuda_status(cudaStreamSynchronize(stream_)).with_context(name() + " backend");
  }

 private:
  bool mine(const Tensor& t) const { return t.device().is_cpu() || t.device() == device(); }

  Status check(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
               const Positions& k_pos, const BlockResult& result) const {
    const std::string shapes =
        " (q " + q.to_string() + ", k " + k.to_string() + ", v " + v.to_string() + ")";
    for (const Tensor* t : {&q, &k, &v}) {
      if (t->rank() != 3)
        return invalid_argument("tensors must be [len, heads, head_dim]" + shapes);
      if (!mine(*t)) return invalid_argument("a tensor on another device" + shapes);
      if (!is_float(t->dtype())) return invalid_argument("integer tensor" + shapes);
    }
    if (k.shape() != v.shape()) return invalid_argument("k and v shapes differ" + shapes);
    if (q.dim(2) != k.dim(2)) return invalid_argument("head_dim differs" + shapes);
    if (k.dim(1) == 0 || q.dim(1) % k.dim(1) != 0) {
      return invalid_argument("n_heads is not a multiple of n_kv_heads" + shapes);
    }
    if (q_pos.size() != q.dim(0) || k_pos.size() != k.dim(0)) {
      return invalid_argument(std::to_string(q_pos.size()) + " query and " +
                              std::to_string(k_pos.size()) + " key positions" + shapes);
    }
    if ((!q_pos.seq.empty() && q_pos.seq.size() != q_pos.pos.size()) ||
        (!k_pos.seq.empty() && k_pos.seq.size() != k_pos.pos.size())) {
      return invalid_argument("sequence ids and positions differ in length");
    }
    const bool fits = result.out.shape() == q.shape() &&
                      result.lse.shape() == Shape{q.dim(0), q.dim(1)} &&
                      result.out.dtype() == DType::kF32 && result.lse.dtype() == DType::kF32 &&
                      result.out.device() == result.lse.device() && mine(result.out) &&
                      result.out.writable() && result.lse.writable();
    if (!fits) {
      return invalid_argument("result " + result.out.to_string() + " / " + result.lse.to_string() +
                              " does not fit q " + q.to_string());
    }
    return ok_status();
  }

  // The kernel takes one input type: the narrow type the inputs already have, else f16.
  static StatusOr<DType> kernel_dtype(const Tensor& q, const Tensor& k, const Tensor& v) {
    DType chosen = DType::kF32;
    for (const Tensor* t : {&q, &k, &v}) {
      if (t->dtype() == DType::kF32) continue;
      if (chosen != DType::kF32 && chosen != t->dtype()) {
        return invalid_argument("q, k and v mix bf16 and f16");
      }
      chosen = t->dtype();
    }
    return chosen == DType::kF32 ? DType::kF16 : chosen;
  }

  // A device pointer to `t`'s values as `dtype`: t itself, or a copy in scratch `slot`.
  StatusOr<const void*> as_device(const Tensor& t, DType dtype, Slot slot) {
    const auto count = static_cast<size_t>(t.numel());
    // The kernel loads 16 bytes at a time: a device tensor at an odd offset goes through scratch.
    const bool aligned = reinterpret_cast<uintptr_t>(t.raw()) % 16 == 0;
    if (t.dtype() == dtype && !t.device().is_cpu() && aligned) return t.raw();
    RM_ASSIGN_OR_RETURN(void* dst, scratch_[slot].reserve(count * dtype_size(dtype), stream_));
    if (t.dtype() == dtype) {
      RM_RETURN_IF_ERROR(copy_bytes_async(dst, t.raw(), t.bytes(), stream_));
      return static_cast<const void*>(dst);
    }
    const void* src = t.raw();
    if (t.device().is_cpu()) {
      RM_ASSIGN_OR_RETURN(void* stage, scratch_[kStage].reserve(t.bytes(), stream_));
      RM_RETURN_IF_ERROR(copy_bytes_async(stage, t.raw(), t.bytes(), stream_));
      src = stage;
    }
    RM_RETURN_IF_ERROR(
        launch_convert(src, t.dtype(), dst, dtype, static_cast<int64_t>(count), stream_));
    return static_cast<const void*>(dst);
  }

  // Uploads a host span into scratch `slot`; null for an empty span.
  template <typename T>
  StatusOr<const T*> upload(std::span<const T> values, Slot slot) {
    if (values.empty()) return static_cast<const T*>(nullptr);
    RM_ASSIGN_OR_RETURN(void* dst, scratch_[slot].reserve(values.size_bytes(), stream_));
    RM_RETURN_IF_ERROR(copy_bytes_async(dst, values.data(), values.size_bytes(), stream_));
    return static_cast<const T*>(dst);
  }

  Status attend(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
                const Positions& k_pos, const MaskSpec& mask, BlockResult& result) {
    RM_RETURN_IF_ERROR(check(q, k, v, q_pos, k_pos, result));
    RM_ASSIGN_OR_RETURN(const DType dtype, kernel_dtype(q, k, v));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    AttendParams p;
    p.dtype = dtype;
    RM_ASSIGN_OR_RETURN(p.q, as_device(q, dtype, kQ));
    RM_ASSIGN_OR_RETURN(p.k, as_device(k, dtype, kK));
    RM_ASSIGN_OR_RETURN(p.v, as_device(v, dtype, kV));
    RM_ASSIGN_OR_RETURN(p.q_pos, upload(q_pos.pos, kQPos));
    RM_ASSIGN_OR_RETURN(p.q_seq, upload(q_pos.seq, kQSeq));
    RM_ASSIGN_OR_RETURN(p.k_pos, upload(k_pos.pos, kKPos));
    RM_ASSIGN_OR_RETURN(p.k_seq, upload(k_pos.seq, kKSeq));
    const bool host_result = result.out.device().is_cpu();
    if (host_result) {
      RM_ASSIGN_OR_RETURN(void* out, scratch_[kOut].reserve(result.out.bytes(), stream_));
      RM_ASSIGN_OR_RETURN(void* lse, scratch_[kLse].reserve(result.lse.bytes(), stream_));
      p.out = static_cast<float*>(out);
      p.lse = static_cast<float*>(lse);
    } else {
      p.out = result.out.data<float>();
      p.lse = result.lse.data<float>();
    }
    p.q_len = q.dim(0);
    p.kv_len = k.dim(0);
    p.n_heads = static_cast<int>(q.dim(1));
    p.n_kv_heads = static_cast<int>(k.dim(1));
    p.head_dim = static_cast<int>(q.dim(2));
    p.causal = mask.causal;
    p.window = mask.window;
    p.group = mask.group;
    RM_RETURN_IF_ERROR(launch_attend_block(p, stream_));
    if (!host_result) return ok_status();
    RM_RETURN_IF_ERROR(
        copy_bytes_async(result.out.mutable_raw(), p.out, result.out.bytes(), stream_));
    RM_RETURN_IF_ERROR(
        copy_bytes_async(result.lse.mutable_raw(), p.lse, result.lse.bytes(), stream_));
    return cuda_status(cudaStreamSynchronize(stream_));
  }

  int device_;
  cudaStream_t stream_;
  Scratch scratch_[kNumSlots];
};

}  // namespace

StatusOr<std::unique_ptr<AttentionBackend>> make_cuda_backend(int device) {
  const std::string what = "cuda backend on device " + std::to_string(device);
  int count = 0;
  RM_RETURN_IF_ERROR(cuda_status(cudaGetDeviceCount(&count)).with_context(what));
  if (device < 0 || device >= count) {
    return invalid_argument(what + ": " + std::to_string(count) + " device(s) visible");
  }
  RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device)).with_context(what));
  cudaStream_t stream = nullptr;
  // Non-blocking: the legacy default stream (plain cudaMemcpy, e.g. LocalComm's copy) does not
  // wait for this one; the ring orders them with synchronize().
  RM_RETURN_IF_ERROR(
      cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)).with_context(what));
  return std::unique_ptr<AttentionBackend>(std::make_unique<CudaBackend>(device, stream));
}

}  // namespace ringmaster::attention
