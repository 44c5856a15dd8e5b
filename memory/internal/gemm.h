// memory/internal/gemm.h: row-major GEMM on float or double, one spelling for both.
//
// The ATLAS math is templated on the scalar so the tests can run the same code in float64 (the
// finite-difference check of the hand-written gradient needs it); production runs float.
// Pure functions, thread-safe. Callers set OpenBLAS to one thread (the pool parallelises).
#pragma once

#include <cblas.h>

#include <cstdint>

namespace ringmaster::memory::internal {

// C[m, n] = alpha * op(A) op(B) + beta * C; op(X) = X^T when the flag says so. Leading
// dimensions are row strides. A zero-sized product only scales C.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (sizeof(T) == sizeof(float)) {
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  }
}

// C[n, n] = alpha A A^T + beta C for A [n, k], both triangles filled (half the flops of gemm).
template <typename T>
void syrk(int64_t n, int64_t k, T alpha, const T* a, int64_t lda, T beta, T* c, int64_t ldc) {
  const auto in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (sizeof(T) == sizeof(float)) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, in, ik, alpha, a, static_cast<int>(lda),
                beta, c, static_cast<int>(ldc));
  } else {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, in, ik, alpha, a, static_cast<int>(lda),
                beta, c, static_cast<int>(ldc));
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) c[i * ldc + j] = c[j * ldc + i];
  }
}

}  // namespace ringmaster::memory::internal
