// core/cuda/gemm.h: row-major GEMMs on the device through cuBLAS, with Status errors.
//
//   C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C      (row-major, op = identity or ^T)
// A and B are f32 or bf16 (both the same); C is f32; accumulation is f32. f32 products run in
// full f32 by default, so results match a CPU sgemm to about 1e-6 relative; `allow_tf32` trades
// that for tensor-core speed (about 1e-3). Model weights are [out, in], so `x W^T` is
// gemm(..., trans_b = true).
//
// A CublasHandle owns one cuBLAS context on the device current when it was made. It is
// thread-compatible: one thread at a time may issue calls through it (cuBLAS handles carry the
// stream they were last given). Built only when RINGMASTER_CUDA is on.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "core/status.h"

struct cublasContext;  // cublasHandle_t, kept out of this header so users need no cuBLAS include

namespace ringmaster {

// The non-OK path for a cuBLAS status code (an int, as cublasStatus_t): kInternal naming `call`
// and the code's name, e.g. "cublasGemmEx: CUBLAS_STATUS_INVALID_VALUE (7)".
Status cublas_error_status(int code, const char* call);

// Owns a cuBLAS handle (RAII). Move-only.
class CublasHandle {
 public:
  CublasHandle() = default;  // empty: gemm refuses it
  // kInternal when cuBLAS cannot initialise (no GPU, no driver, out of memory).
  static StatusOr<CublasHandle> create();

  cublasContext* get() const { return handle_.get(); }

 private:
  struct Destroy {
    void operator()(cublasContext* handle) const;
  };
  explicit CublasHandle(cublasContext* handle) : handle_(handle) {}
  std::unique_ptr<cublasContext, Destroy> handle_;
};

// Device pointers; lda, ldb, ldc are row strides in elements (for A as stored: [m, k] or, with
// trans_a, [k, m]; likewise B [k, n] or [n, k]).
struct GemmParams {
  const void* a = nullptr;
  const void* b = nullptr;
  float* c = nullptr;
  DType dtype = DType::kF32;  // of A and B: kF32 or kBf16
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 0.0f;
  bool allow_tf32 = false;  // f32 only: tensor cores with TF32 inputs
};

// Enqueues the product on `stream` and returns without waiting. kInvalidArgument for an
// unsupported dtype, an empty handle, sizes that are negative or beyond int32, leading dimensions
// too small for the shapes, or null pointers; kInternal naming the cuBLAS call when it fails. m, n
// or k == 0 follow BLAS (k == 0 scales C by beta).
Status gemm(const CublasHandle& handle, const GemmParams& params, cudaStream_t stream);

}  // namespace ringmaster
