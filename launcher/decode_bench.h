// launcher/decode_bench.h: `ringmaster bench decode`, generation after a long prompt.
//
// For each prompt length L and worker count P it runs two `ringmaster run --task generate` jobs
// as a user would (coordinator, P worker processes, UCX): one with a single new token (its peak
// RSS is the prefill's) and one with --max-new-tokens N --ignore-eos. From their summary.json it
// reports prefill time, time to first token, decode time per token, the peak memory after N
// tokens against the prefill's, and, for models with attention blocks, the K/V bytes every
// decode step reads divided by the time per token next to the memory bandwidth a STREAM triad
// measures in the same run with the same number of threads (bench/stream_triad.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::launcher {

struct DecodeBenchOptions {
  std::string model_dir;
  std::vector<int64_t> tokens = {65536, 262144, 1048576};
  std::vector<int> workers = {1, 2};
  int64_t new_tokens = 64;
  int threads = 1;  // compute threads per worker
  std::string plan = "zigzag";
  std::string work_dir;  // empty: a fresh directory under /tmp, removed after
  std::string json_path;
};

struct DecodeBenchRow {
  int64_t tokens = 0;
  int workers = 0;
  double prefill_s = 0, first_token_s = 0, decode_ms_per_token = 0, decode_tokens_per_s = 0;
  double speedup = 0;            // 1-worker ms per token / this row's
  double kv_bytes_per_step = 0;  // K/V of every attention block, all ranks together
  double kv_gb_per_s = 0, triad_gb_per_s = 0;
  double bound_ms = 0;  // kv bytes / triad bandwidth + 1 ms (the target basis)
  double prefill_peak_mib = 0, decode_peak_mib = 0;
};

StatusOr<std::vector<DecodeBenchRow>> run_decode_bench(const DecodeBenchOptions& options);

}  // namespace ringmaster::launcher
