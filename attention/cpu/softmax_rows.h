// attention/cpu/softmax_rows.h: the online-softmax step of the CPU block kernel, vectorised.
//
// One call folds a tile of scores into each row's running state (m, l):
//   m_new = max(m, max_j s_j);  m_safe = (m_new == -inf) ? 0 : m_new
//   s_j  <- exp(s_j - m_safe)                 (hidden entries are -inf and become exactly 0)
//   corr  = exp(m - m_safe)                   (0 when the row was empty before this tile)
//   l     = corr * l + sum_j s_j;  m = m_new
// The caller rescales its output accumulator rows by `corr` before adding P V.
// SIMD through Highway with runtime dispatch to the best instruction set of this CPU.
#pragma once

#include <cstdint>

namespace ringmaster::attention::cpu {

// scores: [rows, cols] with row stride `ld`, overwritten by the unnormalised probabilities;
// with `probs` (bf16 compute), they also go to probs ([rows, cols], stride ld) rounded to bf16
// (l sums the unrounded values).
// m, l, corr: [rows]. Thread-safe for disjoint arguments.
void softmax_rows(float* scores, int64_t rows, int64_t cols, int64_t ld, float* m, float* l,
                  float* corr, uint16_t* probs = nullptr);

}  // namespace ringmaster::attention::cpu
