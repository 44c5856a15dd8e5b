#include "bench/gemm_rate.h"

#include <algorithm>
#include <random>
#include <vector>

#include "core/gemm.h"
#include "core/stopwatch.h"

namespace ringmaster::bench {

double square_gemm_gflops(DType dtype, int threads, int64_t n, int repeats) {
  return gemm_gflops(dtype, threads, n, n, n, repeats);
}

double gemm_gflops(DType dtype, int threads, int64_t m, int64_t n, int64_t k, int repeats) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)),
      c(static_cast<size_t>(m * n));
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng);
  std::vector<uint16_t> a16(a.size()), b16(b.size());
  const bool bf16 = dtype == DType::kBf16;
  if (bf16) {
    round_to_bf16(a.data(), a16.data(), m * k);
    round_to_bf16(b.data(), b16.data(), k * n);
  }
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    cpu_gemm({.a = bf16 ? static_cast<const void*>(a16.data()) : a.data(),
              .b = bf16 ? static_cast<const void*>(b16.data()) : b.data(),
              .c = c.data(),
              .dtype = dtype,
              .m = m,
              .n = n,
              .k = k,
              .lda = k,
              .ldb = n,
              .ldc = n,
              .threads = threads});
    best = std::min(best, seconds_since(start));
  }
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / best /
         1e9;
}

}  // namespace ringmaster::bench
