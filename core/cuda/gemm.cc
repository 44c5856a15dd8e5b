#include "core/cuda/gemm.h"

#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <string>

namespace ringmaster {
namespace {

Status cublas_status(cublasStatus_t code, const char* call) {
  if (code == CUBLAS_STATUS_SUCCESS) return ok_status();
  return cublas_error_status(static_cast<int>(code), call);
}

bool fits_int(int64_t x) { return x >= 0 && x <= INT_MAX; }

Status check(const GemmParams& p) {
  const auto bad = [](const std::string& what) { return invalid_argument("gemm: " + what); };
  if (p.dtype != DType::kF32 && p.dtype != DType::kBf16) {
    return bad(std::string("dtype ") + dtype_name(p.dtype) + " (f32 or bf16)");
  }
  if (!fits_int(p.m) || !fits_int(p.n) || !fits_int(p.k) || !fits_int(p.lda) || !fits_int(p.ldb) ||
      !fits_int(p.ldc)) {
    return bad("sizes m " + std::to_string(p.m) + ", n " + std::to_string(p.n) + ", k " +
               std::to_string(p.k) + " and leading dimensions must be in [0, 2^31)");
  }
  // Row strides of the matrices as stored must cover their rows.
  const int64_t a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_cols = p.trans_b ? p.k : p.n;
  if (p.lda < std::max<int64_t>(1, a_cols) || p.ldb < std::max<int64_t>(1, b_cols) ||
      p.ldc < std::max<int64_t>(1, p.n)) {
    return bad("leading dimensions lda " + std::to_string(p.lda) + ", ldb " +
               std::to_string(p.ldb) + ", ldc " + std::to_string(p.ldc) + " too small");
  }
  if (p.allow_tf32 && p.dtype != DType::kF32) return bad("allow_tf32 needs f32 inputs");
  return ok_status();
}

}  // namespace

Status cublas_error_status(int code, const char* call) {
  const auto status = static_cast<cublasStatus_t>(code);
  return internal_error(std::string(call ? call : "cublas") + ": " + cublasGetStatusName(status) +
                        " (" + std::to_string(code) + "): " + cublasGetStatusString(status));
}

void CublasHandle::Destroy::operator()(cublasContext* handle) const {
  (void)cublasDestroy(handle);  // nothing useful to do with a failure while releasing
}

StatusOr<CublasHandle> CublasHandle::create() {
  cublasHandle_t handle = nullptr;
  RM_RETURN_IF_ERROR(cublas_status(cublasCreate(&handle), "cublasCreate"));
  return CublasHandle(handle);
}

Status gemm(const CublasHandle& handle, const GemmParams& p, cudaStream_t stream) {
  RM_RETURN_IF_ERROR(check(p));
  if (!handle.get()) return invalid_argument("gemm: empty CublasHandle");
  if (p.m == 0 || p.n == 0) return ok_status();
  if (!p.c || (p.k > 0 && (!p.a || !p.b))) return invalid_argument("gemm: null device pointer");
  cublasHandle_t h = handle.get();
  RM_RETURN_IF_ERROR(cublas_status(cublasSetStream(h, stream), "cublasSetStream"));

  // cuBLAS is column-major: a row-major [r, c] matrix is its column-major [c, r] transpose. So
  // compute C^T[n, m] = op(B)^T op(A)^T, i.e. swap the operands and keep each one's op.
  const cudaDataType_t in_type = p.dtype == DType::kBf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute =
      p.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  return cublas_status(
      cublasGemmEx(h, p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                   static_cast<int>(p.n), static_cast<int>(p.m), static_cast<int>(p.k), &p.alpha,
                   p.b, in_type, static_cast<int>(p.ldb), p.a, in_type, static_cast<int>(p.lda),
                   &p.beta, p.c, CUDA_R_32F, static_cast<int>(p.ldc), compute, CUBLAS_GEMM_DEFAULT),
      "cublasGemmEx");
}

}  // namespace ringmaster
