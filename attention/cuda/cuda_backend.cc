// The CUDA AttentionBackend (cuda_backend.h): argument checks and data movement around
// launch_attend_block and launch_merge. Plain C++ against the CUDA runtime; the kernels are in
// block_kernel.cu and merge.cu.
#include "attention/cuda/cuda_backend.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "attention/cuda/block_kernel.cuh"
#include "attention/cuda/merge.cuh"
#include "core/check.h"
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
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// Pinned host memory that a call's host inputs are copied into before their upload: a
// cudaMemcpyAsync from pageable memory waits for the stream's queued work, so the host could
// not run ahead of the GPU (the ring would lose its overlap); one from pinned memory does not.
// Two arenas serve calls in turn; before reusing one, a call waits for the event recorded after
// the uploads that last read it (long done in practice: they precede the kernel two calls ago).
class PinnedStaging {
 public:
  PinnedStaging() = default;
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  ~PinnedStaging() {
    for (Arena& arena : arenas_) {
      if (arena.event) (void)cudaEventSynchronize(arena.event);
      if (arena.event) (void)cudaEventDestroy(arena.event);
      if (arena.data) (void)cudaFreeHost(arena.data);
    }
  }

  // Starts a call that will stage at most `bytes` (the sum of round_up of each take).
  Status begin(size_t bytes) {
    current_ = 1 - current_;
    Arena& arena = arenas_[current_];
    if (arena.event) RM_RETURN_IF_ERROR(cuda_status(cudaEventSynchronize(arena.event)));
    arena.used = 0;
    if (bytes <= arena.bytes) return ok_status();
    if (arena.data) RM_RETURN_IF_ERROR(cuda_status(cudaFreeHost(arena.data)));
    arena.data = nullptr;
    arena.bytes = 0;
    RM_RETURN_IF_ERROR(cuda_status(cudaMallocHost(&arena.data, bytes)));
    arena.bytes = bytes;
    return ok_status();
  }

  // Copies `bytes` from `src` into the current arena; the copy's address. REQUIRES: begin()
  // counted it.
  void* stage(const void* src, size_t bytes) {
    Arena& arena = arenas_[current_];
    RM_CHECK(arena.used + round_up(bytes) <= arena.bytes) << "pinned staging overrun";
    void* at = static_cast<std::byte*>(arena.data) + arena.used;
    std::memcpy(at, src, bytes);
    arena.used += round_up(bytes);
    return at;
  }

  // Marks the end of the call's uploads on `stream`.
  Status end(cudaStream_t stream) {
    Arena& arena = arenas_[current_];
    if (!arena.event) {
      RM_RETURN_IF_ERROR(
          cuda_status(cudaEventCreateWithFlags(&arena.event, cudaEventDisableTiming)));
    }
    return cuda_status(cudaEventRecord(arena.event, stream));
  }

  static size_t round_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

 private:
  struct Arena {
    void* data = nullptr;
    size_t bytes = 0, used = 0;
    cudaEvent_t event = nullptr;
  };
  Arena arenas_[2];
  int current_ = 0;
};

enum Slot { kQ, kK, kV, kStage, kQPos, kQSeq, kKPos, kKSeq, kOut, kLse, kNumSlots };

// What a K or V scratch slot holds: the device tensor it was converted (or realigned) from, so
// the next call given the same tensor reuses it (the ring's query slices share one K/V block).
struct Converted {
  std::weak_ptr<Buffer> owner;  // the source's buffer: a freed and reused address never matches
  const void* src = nullptr;
  int64_t numel = 0;
  DType from = DType::kF32, to = DType::kF32;

  bool matches(const Tensor& t, DType dtype) const {
    return src != nullptr && src == t.raw() && numel == t.numel() && from == t.dtype() &&
           to == dtype && owner.lock() == t.buffer();
  }
  bool overlaps(const Tensor& t) const {
    if (src == nullptr || t.bytes() == 0) return false;
    const auto* a = static_cast<const std::byte*>(src);
    const auto* b = static_cast<const std::byte*>(t.raw());
    return a < b + t.bytes() && b < a + static_cast<size_t>(numel) * dtype_size(from);
  }
};

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
    forget_converted();
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    RM_RETURN_IF_ERROR(copy_bytes_async(dst.mutable_raw(), src.raw(), src.bytes(), stream_));
    return cuda_status(cudaStreamSynchronize(stream_)).with_context(name() + " backend: copy");
  }

  Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v,
                           const Positions& q_pos, const Positions& k_pos, const MaskSpec& mask,
                           BlockResult& result) override {
    const Status status = attend(q, k, v, q_pos, k_pos, mask, result);
    if (status.ok()) return status;
    forget_converted();  // a failed call may have left a slot half written
    return status.with_context(name() + " backend: attend_block_into");
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
    forget_converted_under(acc.out);
    forget_converted_under(acc.lse);
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
    forget_converted();
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

  // Drops the K/V conversions kept for the next call: the caller may change any input now.
  void forget_converted() {
    for (Converted& c : converted_) c = Converted{};
  }
  // Drops those whose source memory `written` covers (this backend is about to write it).
  void forget_converted_under(const Tensor& written) {
    for (Converted& c : converted_) {
      if (c.overlaps(written)) c = Converted{};
    }
  }

  // Host bytes a call stages: its host q, k, v and position spans.
  static size_t staged_bytes(const Tensor& q, const Tensor& k, const Tensor& v,
                             const Positions& q_pos, const Positions& k_pos) {
    size_t bytes = 0;
    for (const Tensor* t : {&q, &k, &v}) {
      if (t->device().is_cpu()) bytes += PinnedStaging::round_up(t->bytes());
    }
    for (const Positions* p : {&q_pos, &k_pos}) {
      bytes += PinnedStaging::round_up(p->pos.size_bytes());
      bytes += PinnedStaging::round_up(p->seq.size_bytes());
    }
    return bytes;
  }

  // A device pointer to `t`'s values as `dtype`: t itself, or a copy in scratch `slot`. A host
  // t goes through pinned staging; a device t converted into the K or V slot is kept there for
  // the next call given the same tensor (Converted).
  StatusOr<const void*> as_device(const Tensor& t, DType dtype, Slot slot) {
    const auto count = static_cast<size_t>(t.numel());
    // The kernel loads 16 bytes at a time: a device tensor at an odd offset goes through scratch.
    const bool aligned = reinterpret_cast<uintptr_t>(t.raw()) % 16 == 0;
    const bool host = t.device().is_cpu();
    if (t.dtype() == dtype && !host && aligned) return t.raw();
    Converted* kept = slot == kK ? &converted_[0] : slot == kV ? &converted_[1] : nullptr;
    if (kept != nullptr && !host && kept->matches(t, dtype)) return scratch_[slot].data();
    if (kept != nullptr) *kept = Converted{};
    RM_ASSIGN_OR_RETURN(void* dst, scratch_[slot].reserve(count * dtype_size(dtype), stream_));
    const void* src = host ? staging_.stage(t.raw(), t.bytes()) : t.raw();
    if (t.dtype() == dtype) {
      RM_RETURN_IF_ERROR(copy_bytes_async(dst, src, t.bytes(), stream_));
    } else {
      if (host) {
        RM_ASSIGN_OR_RETURN(void* stage, scratch_[kStage].reserve(t.bytes(), stream_));
        RM_RETURN_IF_ERROR(copy_bytes_async(stage, src, t.bytes(), stream_));
        src = stage;
      }
      RM_RETURN_IF_ERROR(
          launch_convert(src, t.dtype(), dst, dtype, static_cast<int64_t>(count), stream_));
    }
    if (kept != nullptr && !host) {
      *kept = Converted{t.buffer(), t.raw(), t.numel(), t.dtype(), dtype};
    }
    return static_cast<const void*>(dst);
  }

  // Uploads a host span into scratch `slot` through pinned staging; null for an empty span.
  template <typename T>
  StatusOr<const T*> upload(std::span<const T> values, Slot slot) {
    if (values.empty()) return static_cast<const T*>(nullptr);
    RM_ASSIGN_OR_RETURN(void* dst, scratch_[slot].reserve(values.size_bytes(), stream_));
    const void* src = staging_.stage(values.data(), values.size_bytes());
    RM_RETURN_IF_ERROR(copy_bytes_async(dst, src, values.size_bytes(), stream_));
    return static_cast<const T*>(dst);
  }

  Status attend(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
                const Positions& k_pos, const MaskSpec& mask, BlockResult& result) {
    RM_RETURN_IF_ERROR(check(q, k, v, q_pos, k_pos, result));
    RM_ASSIGN_OR_RETURN(const DType dtype, kernel_dtype(q, k, v));
    RM_RETURN_IF_ERROR(cuda_status(cudaSetDevice(device_)));
    AttendParams p;
    p.dtype = dtype;
    RM_RETURN_IF_ERROR(staging_.begin(staged_bytes(q, k, v, q_pos, k_pos)));
    RM_ASSIGN_OR_RETURN(p.q, as_device(q, dtype, kQ));
    RM_ASSIGN_OR_RETURN(p.k, as_device(k, dtype, kK));
    RM_ASSIGN_OR_RETURN(p.v, as_device(v, dtype, kV));
    RM_ASSIGN_OR_RETURN(p.q_pos, upload(q_pos.pos, kQPos));
    RM_ASSIGN_OR_RETURN(p.q_seq, upload(q_pos.seq, kQSeq));
    RM_ASSIGN_OR_RETURN(p.k_pos, upload(k_pos.pos, kKPos));
    RM_ASSIGN_OR_RETURN(p.k_seq, upload(k_pos.seq, kKSeq));
    RM_RETURN_IF_ERROR(staging_.end(stream_));
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
    if (!host_result) {
      forget_converted_under(result.out);
      forget_converted_under(result.lse);
      return ok_status();
    }
    // The call returns finished, so the caller may change its inputs next.
    forget_converted();
    RM_RETURN_IF_ERROR(
        copy_bytes_async(result.out.mutable_raw(), p.out, result.out.bytes(), stream_));
    RM_RETURN_IF_ERROR(
        copy_bytes_async(result.lse.mutable_raw(), p.lse, result.lse.bytes(), stream_));
    return cuda_status(cudaStreamSynchronize(stream_));
  }

  int device_;
  cudaStream_t stream_;
  Scratch scratch_[kNumSlots];
  Converted converted_[2];  // what scratch_[kK] and scratch_[kV] hold
  PinnedStaging staging_;
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
