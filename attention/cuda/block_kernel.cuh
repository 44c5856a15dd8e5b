// attention/cuda/block_kernel.cuh: one block of exact softmax attention on the device.
//
// The device twin of attend_block_into (attention/attention.h): for queries q against keys k and
// values v,
//   o_h = softmax(q_h k_g^T / sqrt(head_dim) + mask) v_g,   g = h / (n_heads / n_kv_heads)
// and the natural-log log-sum-exp of each (query, head) row, -inf (with o = 0) where the mask
// hides every key. The mask is MaskSpec's, decided from global positions and sequence ids, so a
// ring step, a zigzag or striped shard and a window halo all mask exactly as the CPU kernel does.
// Inputs are bf16 or f16; products run on tensor cores with f32 accumulation; out and lse are
// f32. Results agree with the CPU kernel on the same (widened) inputs within bf16/f16 rounding.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace ringmaster::attention {

// Device pointers; q, k, v dense row-major [len, heads, head_dim] of `dtype`; out
// [q_len, n_heads, head_dim] f32; lse [q_len, n_heads] f32. A null seq pointer means every token
// is in sequence 0. out/lse must not overlap the inputs. q, k and v must be 16-byte aligned (the
// kernel loads them 16 bytes at a time; cudaMalloc's pointers and their row offsets are).
struct AttendParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  DType dtype = DType::kBf16;  // kBf16 or kF16
  const int64_t* q_pos = nullptr;
  const int32_t* q_seq = nullptr;
  const int64_t* k_pos = nullptr;
  const int32_t* k_seq = nullptr;
  float* out = nullptr;
  float* lse = nullptr;
  int64_t q_len = 0;
  int64_t kv_len = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;  // 64 or 128
  // MaskSpec's fields (attention/masks.h).
  bool causal = false;
  int64_t window = 0;
  int64_t group = 0;
};

// Enqueues the block on `stream` and returns without waiting. kInvalidArgument (naming the
// field) for an unsupported dtype or head_dim, heads that do not divide, negative sizes, null or
// misaligned pointers; kInternal naming the launch when it fails. q_len == 0 is a no-op;
// kv_len == 0 writes empty rows.
Status launch_attend_block(const AttendParams& params, cudaStream_t stream);

// Converts `count` elements between float types on the device (f32 <-> bf16 / f16), rounding to
// nearest even; the backend uses it to feed f32 activations to the kernel.
Status launch_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count,
                      cudaStream_t stream);

}  // namespace ringmaster::attention
