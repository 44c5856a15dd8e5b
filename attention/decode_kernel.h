// attention/decode_kernel.h: attention of a few query rows over a long run of keys they all see
// (decode: ALGORITHMS.md 7.1, Flash-Decoding on CPU threads).
//
// The block kernel (attention.h) parallelises over query tiles and heads and reads the keys once
// per query head; with one query row that is four tasks and each K/V byte read n_heads /
// n_kv_heads times. Here the keys are cut into fixed splits, one task each, and a task reads each
// key and value row once for all the query heads that share its KV head (one small sgemm per KV
// head and tile). The splits' partials merge exactly (softmax_state.h) in split order, so the
// result does not depend on the thread count. Decode is memory-bound: the target is streaming
// K and V at the machine's bandwidth.
#pragma once

#include <stop_token>

#include "attention/attention.h"

namespace ringmaster::attention {

// result <- attention of q [q_len, n_heads, head_dim] over k, v [kv_len, n_kv_heads, head_dim]
// (f32, host), no key hidden from any query: the caller guarantees it (a decode query sees every
// earlier key of its record). result's tensors have the output shapes. kCancelled once `stop` is
// requested; kInvalidArgument for shapes that do not fit.
Status attend_visible(const Tensor& q, const Tensor& k, const Tensor& v, ThreadPool& pool,
                      BlockResult& result, const std::stop_token& stop = {});

}  // namespace ringmaster::attention
