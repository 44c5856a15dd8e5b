// memory/newton_schulz.h: NS5, Muon's Newton-Schulz orthogonalisation (MODEL.md "atlas mixer").
//
//   X = G / (|G|_F + 1e-7);  if rows > cols: X = X^T        (iterate on the wide orientation)
//   5 times:  A = X X^T;  B = -4.7750 A + 2.0315 A A;  X = 3.4445 X + B X
//   if transposed: X = X^T
// The result is about U V^T of G's SVD, singular values pushed into roughly [0.7, 1.2]; the
// magnitude of G is discarded, so the caller's learning rate alone sets the step. Always run in
// float or wider (MODEL.md forbids bf16 here, unlike Muon's training code). Per iteration on an
// r x s matrix (r <= s): a syrk for X X^T and two GEMMs, 3 r^2 s + 2 r^3 flops, five times.
// Pure functions; thread-safe with one scratch per thread.
#pragma once

#include <cstdint>
#include <vector>

namespace ringmaster::memory {

inline constexpr double kNsA = 3.4445, kNsB = -4.7750, kNsC = 2.0315;
inline constexpr int kNsSteps = 5;

// out[rows, cols] = NS5(g[rows, cols]). `scratch` is grown as needed and may be reused across
// calls. out may not alias g. Instantiated for float and double.
template <typename T>
void newton_schulz5(const T* g, int64_t rows, int64_t cols, T* out, std::vector<T>& scratch);

}  // namespace ringmaster::memory
