// launcher/model_bench.h: `ringmaster bench model`, whole model jobs at scale.
//
// For each length L it writes a FASTA of L random bases (one record, fixed seed) and, for each
// worker count P, runs `ringmaster run --model DIR --input ... --workers P` as a child process
// exactly as a user would (coordinator, P worker processes, UCX between them), then reads the
// job's summary.json: wall time, tokens/s and each worker's peak RSS. Parallel efficiency is the
// P-worker throughput over P times the 1-worker throughput of the same length, measured in the
// same session (the machine is shared and noisy, so ratios, not absolute times, are the result).
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
  std::string work_dir;  // inputs and outputs; empty: a fresh directory under /tmp, removed after
  std::string json_path;
};

struct ModelBenchRow {
  int64_t tokens = 0;
  int workers = 0;
  double wall_s = 0, tokens_per_s = 0, efficiency = 0;
  double max_peak_rss_mib = 0;  // the largest worker's
};

StatusOr<std::vector<ModelBenchRow>> run_model_bench(const ModelBenchOptions& options);

}  // namespace ringmaster::launcher
