// bench/gemm_rate.h: the machine's GEMM rate, the yardstick the benchmarks report against
// (bench kernel's kernel/sgemm ratio, bench model's model FLOP use).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace ringmaster::bench {

// Best-of-`repeats` GFLOP/s of a square n x n x n GEMM through core/gemm.h with `dtype` inputs
// (kF32 or kBf16) on `threads` library threads.
double square_gemm_gflops(DType dtype, int threads, int64_t n = 2048, int repeats = 3);

// The same for C [m, n] = A [m, k] B [k, n]: a model's own product shapes (bench calibrate).
double gemm_gflops(DType dtype, int threads, int64_t m, int64_t n, int64_t k, int repeats = 3);

}  // namespace ringmaster::bench
