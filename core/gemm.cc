#include "core/gemm.h"

#include <vector>

#include "core/check.h"
#include "core/internal/onednn_gemm.h"

namespace ringmaster {
namespace {

// The stored rows of a bf16 operand, widened exactly into `out` with row stride `cols`.
const float* widen_rows(const void* src, int64_t rows, int64_t cols, int64_t ld,
                        std::vector<float>& out) {
  out.resize(static_cast<size_t>(rows * cols));
  const auto* in = static_cast<const uint16_t*>(src);
  for (int64_t r = 0; r < rows; ++r) {
    widen_to_f32(DType::kBf16, in + r * ld, out.data() + r * cols, static_cast<size_t>(cols));
  }
  return out.data();
}

// bf16 without a oneDNN kernel: the same products in f32 (widening is exact).
void widened_sgemm(const CpuGemmParams& p) {
  thread_local std::vector<float> a, b;
  const int64_t a_rows = p.trans_a ? p.k : p.m, a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_rows = p.trans_b ? p.n : p.k, b_cols = p.trans_b ? p.k : p.n;
  internal::onednn_sgemm(p, widen_rows(p.a, a_rows, a_cols, p.lda, a), a_cols,
                         widen_rows(p.b, b_rows, b_cols, p.ldb, b), b_cols);
}

}  // namespace

void cpu_gemm(const CpuGemmParams& p) {
  RM_CHECK(p.dtype == DType::kF32 || p.dtype == DType::kBf16)
      << "cpu_gemm of " << dtype_name(p.dtype);
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {  // C = beta C; the libraries refuse the zero leading dimensions of empty A, B
    for (int64_t i = 0; i < p.m; ++i) {
      float* row = p.c + i * p.ldc;
      for (int64_t j = 0; j < p.n; ++j) row[j] = p.beta == 0.0f ? 0.0f : p.beta * row[j];
    }
    return;
  }
  if (p.dtype == DType::kF32) {
    internal::onednn_sgemm(p, static_cast<const float*>(p.a), p.lda, static_cast<const float*>(p.b),
                           p.ldb);
    return;
  }
  if (!internal::onednn_bf16_gemm(p)) widened_sgemm(p);
}

std::string cpu_gemm_path(DType dtype) {
  if (dtype == DType::kF32) return "onednn sgemm";
  return internal::onednn_bf16_description();
}

}  // namespace ringmaster
