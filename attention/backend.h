// attention/backend.h: AttentionBackend, where attention blocks run (host threads or one GPU).
//
// The ring, Ulysses, the check job and the model's mixers compute through this interface, so the
// worker picks CPU or CUDA once (make_cpu_backend / make_cuda_backend) and nothing above it
// changes. The ops are coarse, a whole block at a time (attend_block_into, merge_into), never an
// element, as ggml-backend's are. The CPU backend is always built and is the reference the CUDA
// backend must match (tests/unit/attention/cuda_backend_test.cc).
//
// Memory: tensors live on the host or on the backend's device(). Every op accepts either and
// says what it does with each; a device tensor of another device is kInvalidArgument. Callers
// that want the data to stay on the device (the ring over a device-capable Communicator)
// allocate with empty(..., device()) and move bytes with copy().
//
// Ordering: ops may be queued (the CUDA backend runs them in order on its own stream) and return
// before the device is done; synchronize() waits. copy() and any op that writes a host tensor
// return only when the host bytes are final. Thread-compatible: one thread issues calls.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>

#include "attention/attention.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::attention {

class AttentionBackend {
 public:
  virtual ~AttentionBackend() = default;

  // "cpu" or "cuda:0", for logs and error messages.
  virtual std::string name() const = 0;
  // Where this backend computes: Device::cpu() or Device::cuda(i).
  virtual Device device() const = 0;

  // A new zero-filled tensor on `where` (the host, or device()). kInvalidArgument for another
  // device; kInternal when the allocation fails.
  virtual StatusOr<Tensor> empty(const Shape& shape, DType dtype, Device where) = 0;

  // Copies src's bytes into dst (host or device() on either side). Returns when dst holds them.
  // kInvalidArgument when the byte counts differ or dst is read-only.
  virtual Status copy(const Tensor& src, const Tensor& dst) = 0;

  // attend_block_into (attention.h) on this backend: q [q_len, n_heads, head_dim], k and v
  // [kv_len, n_kv_heads, head_dim] in f32, bf16 or f16, on the host or device(); the positions
  // are host spans. Writes result (f32, the output shapes, on the host or device()). Errors are
  // kInvalidArgument naming the call and the mismatch, or kInternal naming the failed device call.
  virtual Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Positions& q_pos, const Positions& k_pos,
                                   const MaskSpec& mask, BlockResult& result) = 0;

  // acc <- the exact merge of acc and part (softmax_state.h). Both on the host or both on
  // device(). kInvalidArgument for different shapes or places.
  virtual Status merge_into(BlockResult& acc, const BlockResult& part) = 0;

  // Waits until every queued op has finished (a no-op on the CPU). Call it before another
  // agent (a Communicator, the host) touches memory the queued ops read or write.
  virtual Status synchronize() = 0;
};

// Runs on `pool`'s threads through attention.h's kernel and merge. `pool` must outlive it. Once
// `stop` is requested (core/cancel.h), attend_block_into stops between tiles with kCancelled.
// `compute` (kF32 or kBf16) is the dtype of the tile products' inputs (attention.h).
std::unique_ptr<AttentionBackend> make_cpu_backend(ThreadPool& pool, std::stop_token stop = {},
                                                   DType compute = DType::kF32);

// The helpers below are built from the interface and work for every backend.

// A result with every row empty (out = 0, lse = -inf), the identity of merge_into, on `where`.
StatusOr<BlockResult> make_empty_result(AttentionBackend& backend, int64_t q_len, int64_t n_heads,
                                        int64_t head_dim, Device where);

// A copy of `t` on `where` (the host, or backend.device()); `t` itself when already there.
StatusOr<Tensor> to_device(AttentionBackend& backend, const Tensor& t, Device where);

// attend_block (attention.h) through `backend`, the result allocated on `where`.
StatusOr<BlockResult> attend_block(AttentionBackend& backend, const Tensor& q, const Tensor& k,
                                   const Tensor& v, const Positions& q_pos, const Positions& k_pos,
                                   const MaskSpec& mask, Device where = Device::cpu());

}  // namespace ringmaster::attention
