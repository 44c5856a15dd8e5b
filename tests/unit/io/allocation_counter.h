// tests/unit/io/allocation_counter.h: counts the heap bytes that operator new hands out in the
// io test binary, so a test can state "this read allocated at most N bytes" (RELIABILITY.md S10).
//
// Replacing operator new is program-wide; the replacement only counts (malloc_usable_size, so
// the figure includes malloc's rounding) and otherwise behaves as the default one.
// Thread-safe: the counters are atomics.
#pragma once

#include <cstdint>

namespace ringmaster::io::heap_counter {

// Heap bytes live right now.
int64_t live_heap_bytes();
// Starts a measurement: the high-water mark restarts at the bytes live now.
void reset_peak_heap_bytes();
// Most heap bytes live at once since reset_peak_heap_bytes().
int64_t peak_heap_bytes();

}  // namespace ringmaster::io::heap_counter
