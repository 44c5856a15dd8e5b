// Dispatch cost of core's ThreadPool against an OpenMP parallel for, at the granularity the
// attention kernel uses (tens to hundreds of items of ~10-100 us each). The loop body is a small
// dependent arithmetic chain so the work per item is fixed and the difference is dispatch.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace {

float busy_work(int64_t item, int64_t iterations) {
  float x = static_cast<float>(item) * 1e-3f;
  for (int64_t i = 0; i < iterations; ++i) x = std::fma(x, 0.999f, 1e-4f);
  return x;
}

void BM_ThreadPool(benchmark::State& state) {
  const int64_t items = state.range(0), iterations = state.range(1);
  ringmaster::ThreadPool pool(2);
  std::vector<float> sink(static_cast<size_t>(items));
  for (auto _ : state) {
    pool.parallel_for(
        items, [&](int64_t i, int) { sink[static_cast<size_t>(i)] = busy_work(i, iterations); });
    benchmark::DoNotOptimize(sink.data());
  }
}

void BM_OpenMP(benchmark::State& state) {
  const int64_t items = state.range(0), iterations = state.range(1);
  std::vector<float> sink(static_cast<size_t>(items));
  omp_set_num_threads(2);
  for (auto _ : state) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < items; ++i) sink[static_cast<size_t>(i)] = busy_work(i, iterations);
    benchmark::DoNotOptimize(sink.data());
  }
}

// (items, iterations): about 1 us, 10 us and 100 us items.
void item_sizes(benchmark::internal::Benchmark* b) {
  b->Args({64, 250})->Args({64, 2500})->Args({256, 25000})->UseRealTime();
}
BENCHMARK(BM_ThreadPool)->Apply(item_sizes);
BENCHMARK(BM_OpenMP)->Apply(item_sizes);

}  // namespace
