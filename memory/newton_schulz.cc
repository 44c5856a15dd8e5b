#include "memory/newton_schulz.h"

#include <algorithm>
#include <cmath>

#include "memory/internal/gemm.h"

namespace ringmaster::memory {

template <typename T>
void newton_schulz5(const T* g, int64_t rows, int64_t cols, T* out, std::vector<T>& scratch) {
  const int64_t numel = rows * cols;
  double sum = 0;  // double: the norm of a large matrix keeps its small entries
  for (int64_t i = 0; i < numel; ++i) sum += double{g[i]} * g[i];
  const auto inv = static_cast<T>(1.0 / (std::sqrt(sum) + 1e-7));
  const bool transposed = rows > cols;
  const int64_t r = transposed ? cols : rows, s = transposed ? rows : cols;
  scratch.resize(static_cast<size_t>(2 * r * s + 2 * r * r));
  T* x = scratch.data();
  T* x_next = x + r * s;
  T* a = x_next + r * s;
  T* b = a + r * r;
  if (transposed) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) x[j * s + i] = g[i * cols + j] * inv;
    }
  } else {
    for (int64_t i = 0; i < numel; ++i) x[i] = g[i] * inv;
  }
  for (int step = 0; step < kNsSteps; ++step) {
    // A = X X^T;  B = c A A + b A;  X' = a X + B X
    internal::syrk<T>(r, s, T{1}, x, s, T{0}, a, r);
    std::copy(a, a + r * r, b);
    internal::gemm<T>(false, false, r, r, r, static_cast<T>(kNsC), a, r, a, r, static_cast<T>(kNsB),
                      b, r);
    for (int64_t i = 0; i < r * s; ++i) x_next[i] = static_cast<T>(kNsA) * x[i];
    internal::gemm<T>(false, false, r, s, r, T{1}, b, r, x, s, T{1}, x_next, s);
    std::swap(x, x_next);
  }
  if (transposed) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = x[j * s + i];
    }
  } else {
    std::copy(x, x + numel, out);
  }
}

template void newton_schulz5<float>(const float*, int64_t, int64_t, float*, std::vector<float>&);
template void newton_schulz5<double>(const double*, int64_t, int64_t, double*,
                                     std::vector<double>&);

}  // namespace ringmaster::memory
