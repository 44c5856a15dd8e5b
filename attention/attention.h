// attention/attention.h: one block of exact softmax attention, and the merge of blocks.
//
// attend_block computes, for a block of queries against a block of keys/values,
//   o_h = softmax(q_h k_g^T / sqrt(head_dim) + mask) v_g,   g = h / (n_heads / n_kv_heads)
// and the natural-log log-sum-exp of each (query, head) row. Blocks of disjoint keys merge
// exactly with merge_into (softmax_state.h), in any order: this is what ring attention, the
// sliding-window halo and split-K decode are built on.
//
// The CPU kernel tiles queries and keys so memory stays O(tile) per thread, never O(Lq x Lk),
// skips tile pairs the mask hides entirely, and runs core/gemm.h for both tile products.
// Inputs may be f32, bf16 or f16. The compute dtype says what the products read: f32 (inputs
// widened exactly) or bf16 (inputs and the softmax probabilities rounded to bf16, f32
// accumulation: MODEL.md's bf16 tolerance); softmax, output and lse are f32 either way.
#pragma once

#include <cstdint>
#include <stop_token>

#include "attention/masks.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::attention {

struct BlockResult {
  Tensor out;  // [q_len, n_heads, head_dim], f32
  Tensor lse;  // [q_len, n_heads], f32, natural log; -inf where every key is hidden (out = 0)
};

// A result with every row empty (out = 0, lse = -inf): the identity of merge_into.
BlockResult make_empty_result(int64_t q_len, int64_t n_heads, int64_t head_dim);

// q: [q_len, n_heads, head_dim]; k, v: [kv_len, n_kv_heads, head_dim]; f32, bf16 or f16.
// q_pos.size() == q_len and k_pos.size() == kv_len. REQUIRES: host tensors.
// Errors (kInvalidArgument) name the mismatching shape. Runs on `pool`'s threads.
StatusOr<BlockResult> attend_block(const Tensor& q, const Tensor& k, const Tensor& v,
                                   const Positions& q_pos, const Positions& k_pos,
                                   const MaskSpec& mask, ThreadPool& pool);

// As attend_block, writing into `result`, whose tensors must already have the output shapes.
// Lets a ring step reuse its buffers instead of allocating per step. Once `stop` is requested
// (core/cancel.h) no further tile runs and the call returns kCancelled; `result` is then garbage.
// `compute` is kF32 or kBf16 (kInvalidArgument otherwise).
Status attend_block_into(const Tensor& q, const Tensor& k, const Tensor& v, const Positions& q_pos,
                         const Positions& k_pos, const MaskSpec& mask, ThreadPool& pool,
                         BlockResult& result, const std::stop_token& stop = {},
                         DType compute = DType::kF32);

// acc <- the exact merge of acc and part (disjoint key sets, same queries).
// REQUIRES: equal shapes (a bug otherwise).
void merge_into(BlockResult& acc, const BlockResult& part);

}  // namespace ringmaster::attention
