#include "bench/gemm_rate.h"

#include <algorithm>
#include <random>
#include <vector>

#include "core/gemm.h"
#include "core/stopwatch.h"

namespace ringmaster::bench {

double square_gemm_gflops(DType dtype, int threads, int64_t n, int repeats) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> a(static_cast<size_t>(n * n)), b(a.size()), c(a.size());
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng);
  std::vector<uint16_t> a16(a.size()), b16(b.size());
  const bool bf16 = dtype == DType::kBf16;
  if (bf16) {
    round_to_bf16(a.data(), a16.data(), n * n);
    round_to_bf16(b.data(), b16.data(), n * n);
  }
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    cpu_gemm({.a = bf16 ? static_cast<const void*>(a16.data()) : a.data(),
              .b = bf16 ? static_cast<const void*>(b16.data()) : b.data(),
              .c = c.data(),
              .dtype = dtype,
              .m = n,
              .n = n,
              .k = n,
              .lda = n,
              .ldb = n,
              .ldc = n,
              .threads = threads});
    best = std::min(best, seconds_since(start));
  }
  return 2.0 * static_cast<double>(n * n * n) / best / 1e9;
}

}  // namespace ringmaster::bench
