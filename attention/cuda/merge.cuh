// attention/cuda/merge.cuh: the exact merge of two partial attention results on the device.
//
// For every row r (one query and head) of two partials over disjoint key sets:
//   (out[r], lse[r]) <- merge((out[r], lse[r]), (out_b[r], lse_b[r]))
// with the weights of merge_weights (attention/softmax_state.h), the same formula the CPU's
// merge_into uses. Empty rows (lse = -inf, out = 0) merge exactly: an empty B leaves A's bits
// untouched, an empty A takes B's bits. Results agree with merge_into to a few ulps (device
// expf/logf and fused multiply-adds differ from the host's).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/status.h"

namespace ringmaster::attention {

struct BlockResult;

// Device pointers, all f32 and dense row-major: out and out_b are [rows, head_dim], lse and
// lse_b are [rows]. rows = q_len * n_heads. out/lse are updated in place; the B buffers are only
// read and must not overlap out/lse.
struct MergeParams {
  float* out;
  float* lse;
  const float* out_b;
  const float* lse_b;
  int64_t rows;
  int head_dim;
};

// Enqueues the merge on `stream` and returns without waiting. kInvalidArgument for negative
// sizes or null pointers; kInternal (naming the launch) when the launch fails. rows == 0 is a
// no-op.
Status launch_merge(const MergeParams& params, cudaStream_t stream);

// Test and debugging convenience: copies host results `acc` and `part` to the current device,
// merges with launch_merge on `stream`, copies the merged result back into `acc` and waits.
// kInvalidArgument when the results are not f32 host tensors of matching shapes.
Status merge_on_device(BlockResult& acc, const BlockResult& part, cudaStream_t stream = nullptr);

}  // namespace ringmaster::attention
