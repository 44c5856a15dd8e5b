// bench/stream_triad.h: the machine's memory bandwidth as STREAM's triad measures it
// (a[i] = b[i] + s * c[i] over arrays far larger than the caches), for benchmarks that report
// memory-bound kernels as a fraction of it (bench decode). Measured in the same run as the kernel,
// since these machines are shared and noisy.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace ringmaster::bench {

// GB/s (1e9 bytes) of the best of `repeats` triads over three arrays of `floats` floats each,
// split over the pool's threads. 3 * 4 bytes move per element (two reads, one write).
double triad_gb_per_s(ThreadPool& pool, int64_t floats = int64_t{1} << 25, int repeats = 5);

}  // namespace ringmaster::bench
