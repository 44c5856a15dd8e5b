// core/stopwatch.h: elapsed wall time for stats and benchmarks (steady clock, never adjusted).
// Not for deadlines or timeouts: those take a Deadline or an injected clock.
#pragma once

#include <chrono>

namespace ringmaster {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ringmaster
