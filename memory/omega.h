// memory/omega.h: the deep memory M(u) = W2 silu(W1 u) of one ATLAS head, read in batch, and
// the exact gradient of its weighted Omega loss, written by hand (ALGORITHMS.md 6.8).
//
// Shapes (row-major):  W1 [hidden, d_phi],  W2 [d_v, hidden],  u rows [n, d_phi],
// v rows [n, d_v], weight [n]. With Z = U W1^T, A = silu(Z), E = A W2^T - V:
//   loss  = sum_i weight_i |E_i|^2                 (no 1/2, no mean: MODEL.md)
//   Gd    = 2 diag(weight) E                       [n, d_v]
//   G2    = Gd^T A                                 [d_v, hidden]
//   G1    = ((Gd W2) o silu'(Z))^T U               [hidden, d_phi]
//   silu'(z) = s(z) (1 + z (1 - s(z))),  s the logistic
// Five GEMMs and elementwise work; no per-token loop over a weight matrix.
// Pure functions; thread-safe with one scratch per thread. Instantiated for float and double.
#pragma once

#include <cstdint>
#include <vector>

namespace ringmaster::memory {

struct MemoryDims {
  int64_t d_phi = 0;   // input features
  int64_t hidden = 0;  // memory_hidden
  int64_t d_v = 0;     // outputs (head_dim)
};

// y[n, d_v] (row stride ldy) = M(u_i) for rows u [n, d_phi].
template <typename T>
void memory_read(const T* w1, const T* w2, const MemoryDims& dims, const T* u, int64_t n, T* y,
                 int64_t ldy, std::vector<T>& scratch);

// (g1, g2) = gradient of sum_i weight_i |M(u_i) - v_i|^2 with respect to (W1, W2), at (w1, w2).
// g1 [hidden, d_phi], g2 [d_v, hidden] are overwritten. n == 0 gives zeros.
template <typename T>
void omega_gradient(const T* w1, const T* w2, const MemoryDims& dims, const T* u, const T* v,
                    const T* weight, int64_t n, T* g1, T* g2, std::vector<T>& scratch);

// The loss itself (in double), for tests.
template <typename T>
double omega_loss(const T* w1, const T* w2, const MemoryDims& dims, const T* u, const T* v,
                  const T* weight, int64_t n);

}  // namespace ringmaster::memory
