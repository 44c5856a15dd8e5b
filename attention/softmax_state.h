// attention/softmax_state.h: the exact merge of partial attention results, written once for the
// CPU kernel, the CUDA kernels, the ring and split-K decode.
//
// A partial result for one (query row, head) is (o, lse): o already divided by its own
// denominator, lse the natural-log log-sum-exp of the scaled, masked scores over its key set.
// "Empty" (every key hidden) is lse = -inf with o = 0. For disjoint key sets A and B:
//   lse = M + ln(e^(lse_A - M) + e^(lse_B - M)),  M = max(lse_A, lse_B)
//   o   = e^(lse_A - lse) o_A + e^(lse_B - lse) o_B
// The merge is commutative and associative up to rounding, so blocks may arrive in any order.
// The guarded form below never evaluates (-inf) - (-inf), so merging empties is exact.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define RM_HOST_DEVICE __host__ __device__
#else
#define RM_HOST_DEVICE
#endif

namespace ringmaster::attention {

// The weights that combine two partials, and their merged lse.
struct MergeWeights {
  float a;
  float b;
  float lse;
};

RM_HOST_DEVICE inline MergeWeights merge_weights(float lse_a, float lse_b) {
  if (lse_b == -INFINITY) return {1.0f, 0.0f, lse_a};  // B is empty: keep A (empty or not)
  if (lse_a == -INFINITY) return {0.0f, 1.0f, lse_b};  // A is empty: take B exactly
  const float m = fmaxf(lse_a, lse_b);
  const float wa = expf(lse_a - m);
  const float wb = expf(lse_b - m);
  const float sum = wa + wb;
  return {wa / sum, wb / sum, m + logf(sum)};
}

// o[0..d) and lse absorb the partial (o_b, lse_b).
RM_HOST_DEVICE inline void merge_row(float* o, float& lse, const float* o_b, float lse_b, int d) {
  const MergeWeights w = merge_weights(lse, lse_b);
  if (w.b == 0.0f) return;
  for (int i = 0; i < d; ++i) o[i] = w.a * o[i] + w.b * o_b[i];
  lse = w.lse;
}

}  // namespace ringmaster::attention
