// launcher/model_bench.h: `ringmaster bench model`, whole model jobs at scale.
//
// For each length L it writes a FASTA of L random bases (one record, fixed seed) and, for each
// worker count P, runs `ringmaster run --model DIR --input ... --workers P` as a child process
// exactly as a user would (coordinator, P worker processes, UCX between them), then reads the
// job's summary.json: wall time, tokens/s and each worker's peak RSS. Parallel efficiency is the
// P-worker throughput over P times the 1-worker throughput of the same length, measured in the
// same session (the machine is shared and noisy, so ratios, not absolute times, are the result).
//
// With several --compute-dtype values each (L, P) runs once per dtype, and `speedup` is the
// row's throughput over the f32 row's of the same (L, P). Model FLOP use (MFU) is the model's
// FLOPs (model/flops.h) / wall time / the GEMM rate of the row's dtype (core/gemm.h on a square
// n = 2048 problem, on P x threads library threads), measured in the same run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

struct ModelBenchOptions {
  std::string model_dir;
  std::vector<int64_t> tokens = {65536, 262144, 1048576};
  std::vector<int> workers = {1, 2};
  int threads = 1;  // compute threads per worker
  std::string task = "embed";
  std::string plan = "zigzag";
  std::vector<std::string> compute_dtypes = {"f32"};  // `run --compute-dtype` values
  int repeats = 1;       // runs per (L, P, dtype), interleaved over the dtypes; the fastest counts
  std::string work_dir;  // inputs and outputs; empty: a fresh directory under /tmp, removed after
  std::string json_path;
};

struct ModelBenchRow {
  int64_t tokens = 0;
  int workers = 0;
  std::string compute_dtype;
  double wall_s = 0, tokens_per_s = 0, efficiency = 0;
  double speedup = 0;  // over the f32 row of the same tokens and workers
  double model_gflops = 0, gemm_gflops = 0, mfu = 0;
  double max_peak_rss_mib = 0;  // the largest worker's
};

StatusOr<std::vector<ModelBenchRow>> run_model_bench(const ModelBenchOptions& options);

}  // namespace ringmaster::launcher
