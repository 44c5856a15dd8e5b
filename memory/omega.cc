#include "memory/omega.h"

#include <algorithm>
#include <cmath>

#include "memory/internal/gemm.h"

namespace ringmaster::memory {

template <typename T>
void memory_read(const T* w1, const T* w2, const MemoryDims& dims, const T* u, int64_t n, T* y,
                 int64_t ldy, std::vector<T>& scratch) {
  if (n == 0) return;
  const int64_t hid = dims.hidden;
  scratch.resize(static_cast<size_t>(n * hid));
  T* a = scratch.data();
  internal::gemm<T>(false, true, n, hid, dims.d_phi, T{1}, u, dims.d_phi, w1, dims.d_phi, T{0}, a,
                    hid);
  for (int64_t i = 0; i < n * hid; ++i) a[i] = a[i] / (T{1} + std::exp(-a[i]));
  internal::gemm<T>(false, true, n, dims.d_v, hid, T{1}, a, hid, w2, hid, T{0}, y, ldy);
}

template <typename T>
void omega_gradient(const T* w1, const T* w2, const MemoryDims& dims, const T* u, const T* v,
                    const T* weight, int64_t n, T* g1, T* g2, std::vector<T>& scratch) {
  const int64_t hid = dims.hidden, dv = dims.d_v, dphi = dims.d_phi;
  if (n == 0) {
    std::fill(g1, g1 + hid * dphi, T{0});
    std::fill(g2, g2 + dv * hid, T{0});
    return;
  }
  scratch.resize(static_cast<size_t>(3 * n * hid + n * dv));
  T* z = scratch.data();  // Z, then Delta = (Gd W2) o silu'(Z)
  T* a = z + n * hid;     // A = silu(Z)
  T* sig = a + n * hid;   // s(Z), then silu'(Z)
  T* e = sig + n * hid;   // E, then Gd
  internal::gemm<T>(false, true, n, hid, dphi, T{1}, u, dphi, w1, dphi, T{0}, z, hid);
  // One exp per element serves silu and its derivative.
  for (int64_t i = 0; i < n * hid; ++i) {
    const T s = T{1} / (T{1} + std::exp(-z[i]));
    a[i] = z[i] * s;
    sig[i] = s * (T{1} + z[i] * (T{1} - s));
  }
  internal::gemm<T>(false, true, n, dv, hid, T{1}, a, hid, w2, hid, T{0}, e, dv);
  for (int64_t i = 0; i < n; ++i) {
    const T scale = T{2} * weight[i];
    for (int64_t j = 0; j < dv; ++j) e[i * dv + j] = scale * (e[i * dv + j] - v[i * dv + j]);
  }
  internal::gemm<T>(true, false, dv, hid, n, T{1}, e, dv, a, hid, T{0}, g2, hid);
  internal::gemm<T>(false, false, n, hid, dv, T{1}, e, dv, w2, hid, T{0}, z, hid);
  for (int64_t i = 0; i < n * hid; ++i) z[i] *= sig[i];
  internal::gemm<T>(true, false, hid, dphi, n, T{1}, z, hid, u, dphi, T{0}, g1, dphi);
}

template <typename T>
double omega_loss(const T* w1, const T* w2, const MemoryDims& dims, const T* u, const T* v,
                  const T* weight, int64_t n) {
  std::vector<T> y(static_cast<size_t>(n * dims.d_v)), scratch;
  memory_read<T>(w1, w2, dims, u, n, y.data(), dims.d_v, scratch);
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < dims.d_v; ++j) {
      const double r = double{y[i * dims.d_v + j]} - v[i * dims.d_v + j];
      loss += double{weight[i]} * r * r;
    }
  }
  return loss;
}

template void memory_read<float>(const float*, const float*, const MemoryDims&, const float*,
                                 int64_t, float*, int64_t, std::vector<float>&);
template void omega_gradient<float>(const float*, const float*, const MemoryDims&, const float*,
                                    const float*, const float*, int64_t, float*, float*,
                                    std::vector<float>&);
template double omega_loss<float>(const float*, const float*, const MemoryDims&, const float*,
                                  const float*, const float*, int64_t);
template void memory_read<double>(const double*, const double*, const MemoryDims&, const double*,
                                  int64_t, double*, int64_t, std::vector<double>&);
template void omega_gradient<double>(const double*, const double*, const MemoryDims&, const double*,
                                     const double*, const double*, int64_t, double*, double*,
                                     std::vector<double>&);
template double omega_loss<double>(const double*, const double*, const MemoryDims&, const double*,
                                   const double*, const double*, int64_t);

}  // namespace ringmaster::memory
