// core/internal/onednn_gemm.h: cpu_gemm (core/gemm.h) through oneDNN: f32 with dnnl_sgemm, bf16
// with a matmul primitive.
//
// oneDNN 2.6 has no public bf16 GEMM call, so this builds a matmul primitive per problem shape
// (strides, transposes, alpha and beta included) and keeps it in a per-thread cache: building
// one JITs code (tens of microseconds or more), while the tile kernels repeat a handful of
// shapes millions of times. Thread-safe: every thread has its own engine, stream and cache.
#pragma once

#include <string>

#include "core/gemm.h"

namespace ringmaster::internal {

// Runs p's f32 product on f32 operands `a` and `b` (row strides lda, ldb; p's own for an f32 p,
// widened copies for the bf16 fallback) with dnnl_sgemm.
void onednn_sgemm(const CpuGemmParams& p, const float* a, int64_t lda, const float* b, int64_t ldb);

// Runs p (dtype kBf16) through oneDNN and returns true, or returns false without touching p.c
// when oneDNN has no bf16 matmul for this CPU (the caller then widens to f32).
bool onednn_bf16_gemm(const CpuGemmParams& p);

// "onednn matmul <implementation>, isa <effective ISA>" for a typical tile shape, or the reason
// oneDNN cannot run bf16 here.
std::string onednn_bf16_description();

}  // namespace ringmaster::internal
