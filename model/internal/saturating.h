// model/internal/saturating.h: int64 arithmetic that sticks at INT64_MAX instead of
// overflowing, for size computations on configs and headers that are not yet validated.
// REQUIRES: non-negative operands. Pure, thread-safe.
#pragma once

#include <cstdint>
#include <limits>

#include "core/tensor.h"

namespace ringmaster::model::internal {

inline constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();

inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t out;
  return __builtin_add_overflow(a, b, &out) ? kSaturated : out;
}

inline int64_t sat_mul(int64_t a, int64_t b) {
  int64_t out;
  return __builtin_mul_overflow(a, b, &out) ? kSaturated : out;
}

// The element count of `shape`, saturated.
inline int64_t sat_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n = sat_mul(n, d);
  return n;
}

}  // namespace ringmaster::model::internal
