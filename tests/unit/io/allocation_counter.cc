#include "tests/unit/io/allocation_counter.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace ringmaster::io::heap_counter {
namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void* counted_alloc(std::size_t bytes) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (p == nullptr) return nullptr;
  const int64_t now = g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p))) +
                      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void counted_free(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
  std::free(p);
}

}  // namespace

int64_t live_heap_bytes() { return g_live.load(); }
void reset_peak_heap_bytes() { g_peak.store(g_live.load()); }
int64_t peak_heap_bytes() { return g_peak.load(); }

}  // namespace ringmaster::io::heap_counter

// The replaceable non-aligned forms; the aligned ones keep their defaults, which pair with each
// other and are not counted.
void* operator new(std::size_t bytes) {
  void* p = ringmaster::io::heap_counter::counted_alloc(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t bytes) { return operator new(bytes); }
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept {
  return ringmaster::io::heap_counter::counted_alloc(bytes);
}
void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept {
  return ringmaster::io::heap_counter::counted_alloc(bytes);
}
void operator delete(void* p) noexcept { ringmaster::io::heap_counter::counted_free(p); }
void operator delete[](void* p) noexcept { ringmaster::io::heap_counter::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept {
  ringmaster::io::heap_counter::counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  ringmaster::io::heap_counter::counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  ringmaster::io::heap_counter::counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  ringmaster::io::heap_counter::counted_free(p);
}
