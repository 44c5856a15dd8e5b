#include "memory/features.h"

#include <cmath>
#include <cstring>

namespace ringmaster::memory {

int64_t feature_dim(int64_t head_dim, int degree) {
  return degree == 2 ? head_dim + head_dim * head_dim : head_dim;
}

void features(const float* u, int64_t n, int64_t ld_u, int64_t head_dim, int degree, float* out) {
  const int64_t width = feature_dim(head_dim, degree);
  const auto inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = u + i * ld_u;
    float* dst = out + i * width;
    std::memcpy(dst, row, static_cast<size_t>(head_dim) * sizeof(float));
    if (degree != 2) continue;
    float* outer = dst + head_dim;
    for (int64_t a = 0; a < head_dim; ++a) {
      const float scaled = row[a] * inv_sqrt2;
      for (int64_t b = 0; b < head_dim; ++b) outer[a * head_dim + b] = scaled * row[b];
    }
  }
}

}  // namespace ringmaster::memory
