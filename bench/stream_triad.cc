#include "bench/stream_triad.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace ringmaster::bench {

double triad_gb_per_s(ThreadPool& pool, int64_t floats, int repeats) {
  std::vector<float> a(static_cast<size_t>(floats)), b(a.size(), 1.0f), c(a.size(), 2.0f);
  const int64_t parts = pool.num_threads();
  auto triad = [&] {
    pool.parallel_for(parts, [&](int64_t p, int) {
      const int64_t begin = floats * p / parts, end = floats * (p + 1) / parts;
      for (int64_t i = begin; i < end; ++i) a[i] = b[i] + 3.0f * c[i];
    });
  };
  triad();  // first touch
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    triad();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 3.0 * 4.0 * static_cast<double>(floats) / s / 1e9);
  }
  return best;
}

}  // namespace ringmaster::bench
