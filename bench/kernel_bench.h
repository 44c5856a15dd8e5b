// bench/kernel_bench.h: `ringmaster bench kernel`, the CPU attention kernel against OpenBLAS.
//
// Each row times attend_block on one head at Lq = Lk = L and the rate of a square f32 GEMM
// (core/gemm.h, n = 2048, the core's practical FMA peak) at the same thread count, in the same run,
// so the ratio is meaningful on a shared, noisy machine. With --dtype bf16 the kernel's products
// run on bf16 inputs, and the ratio is against the bf16 GEMM itself (core/gemm.h: oneDNN) on the
// kernel's two product shapes, timed in the same run. The memory row measures the process's peak
// resident set (VmHWM, reset before the row) while the kernel runs at a long L.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::bench {

struct KernelBenchOptions {
  std::vector<int64_t> lengths = {4096, 16384};
  std::vector<int64_t> head_dims = {64, 128};
  std::vector<int> threads = {1, 2};
  std::vector<bool> causal = {false, true};
  int64_t rss_length = 65536;  // 0 skips the memory row
  int64_t rss_head_dim = 128;
  // Of the tile products' inputs: "f32" (reference rate: OpenBLAS sgemm, n = 2048) or "bf16"
  // (reference rate: core/gemm.h's bf16 GEMM, i.e. oneDNN, on the kernel's own product shapes).
  std::string dtype = "f32";
  std::string json_path;  // empty: no JSON file
  bool quiet = false;     // no table on stdout
};

struct KernelBenchRow {
  int64_t L = 0;
  int64_t head_dim = 0;
  bool causal = false;
  int threads = 0;
  double kernel_seconds = 0;
  double kernel_gflops = 0;
  double sgemm_gflops = 0;
  double gemm_gflops = 0;       // the reference of `ratio`: sgemm (f32) or the bf16 GEMM (bf16)
  double peak_rss_mib = 0;      // VmHWM during the row
  double baseline_rss_mib = 0;  // resident set before the row's inputs were allocated
  double inputs_mib = 0;        // q, k and v
};

// Runs every combination of the options plus the memory row, prints the table, writes JSON.
StatusOr<std::vector<KernelBenchRow>> run_kernel_bench(const KernelBenchOptions& options);

}  // namespace ringmaster::bench
