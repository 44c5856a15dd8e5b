// core/gemm.h: row-major GEMMs on the host, f32 or bf16 inputs, f32 accumulation and output.
//
//   C[m, n] = alpha * op(A)[m, k] op(B)[k, n] + beta * C      (row-major, op = identity or ^T)
// The one GEMM interface of the CPU kernels (attention tiles, projections, MLP), so they never
// know which library ran. Which one does, chosen by measurement on a 2-core AMD EPYC Zen 4
// (AVX512-BF16), one thread, best of 30, on the tile shapes (256 rows x 512 keys x head_dim 32
// and 128, and the projections):
//   f32:  oneDNN's dnnl_sgemm, 4-23% faster than OpenBLAS 0.3.21 on every one of those shapes
//         (e.g. 116.7 vs 103.1 GFLOP/s on P V at head_dim 128, 99.0 vs 87.7 on Q K^T at 32).
//         OpenBLAS stays for the ATLAS chain's f32/f64 products and syrk (memory/).
//   bf16: oneDNN's matmul primitive (bf16 x bf16 -> f32, f32 accumulation), 196-228 GFLOP/s on
//         the same shapes; it uses the AVX512-BF16 / AMX dot products where the CPU has them and
//         emulates them on plain AVX-512. Where oneDNN has no bf16 kernel for this CPU (before
//         AVX-512), the bf16 operands are widened exactly to f32 and sgemm runs: the same
//         products (every bf16 value is an f32 value) at the f32 rate.
// cpu_gemm_path() says which path runs here.
// Model weights are [out, in], so `x W^T` is trans_b = true.
//
// Threading: cpu_gemm runs on the calling thread (and `threads` - 1 library threads when
// threads > 1), so kernels call it from their own ThreadPool tasks with threads = 1.
// Thread-safe: each thread keeps its own oneDNN primitives and scratch (thread_local).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace ringmaster {

// Host pointers; lda, ldb, ldc are row strides in elements (for A as stored: [m, k] or, with
// trans_a, [k, m]; likewise B [k, n] or [n, k]). bf16 operands are their uint16_t bits.
struct CpuGemmParams {
  const void* a = nullptr;
  const void* b = nullptr;
  float* c = nullptr;
  DType dtype = DType::kF32;  // of A and B: kF32 or kBf16
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 0.0f;  // 0: C is only written (its old contents may be garbage, even NaN)
  int threads = 1;    // threads the library may use; kernels inside a ThreadPool pass 1
};

// Runs the GEMM above. REQUIRES (a bug otherwise): dtype kF32 or kBf16, sizes >= 0, strides at
// least the stored rows' widths.
void cpu_gemm(const CpuGemmParams& p);

// Which library and instructions run `dtype` GEMMs on this CPU, for bench output, e.g.
// "onednn matmul brg:avx512_core_bf16, isa avx512_core_bf16", or for a CPU without a oneDNN
// bf16 kernel "onednn sgemm on bf16 widened to f32 (...), isa avx2".
std::string cpu_gemm_path(DType dtype);

// dst[i] = src[i] rounded to the nearest bf16 (ties to even; NaN stays NaN): the convert step
// before a bf16 product. SIMD (Highway, dispatched at run time). Thread-safe.
void round_to_bf16(const float* src, uint16_t* dst, int64_t count);

}  // namespace ringmaster
