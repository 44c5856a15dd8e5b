// core/internal/onednn_matmul.h: the bf16 path of cpu_gemm (core/gemm.h) through oneDNN.
//
// oneDNN 2.6 has no public bf16 GEMM call, so this builds a matmul primitive per problem shape
// (strides, transposes, alpha and beta included) and keeps it in a per-thread cache: building
// one JITs code (tens of microseconds or more), while the tile kernels repeat a handful of
// shapes millions of times. Thread-safe: every thread has its own engine, stream and cache.
#pragma once

#include <string>

#include "core/gemm.h"

namespace ringmaster::internal {

// Runs p (dtype kBf16) through oneDNN and returns true, or returns false without touching p.c
// when oneDNN has no bf16 matmul for this CPU (the caller then widens to f32).
bool onednn_bf16_gemm(const CpuGemmParams& p);

// "onednn matmul <implementation>, isa <effective ISA>" for a typical tile shape, or the reason
// oneDNN cannot run bf16 here.
std::string onednn_bf16_description();

}  // namespace ringmaster::internal
