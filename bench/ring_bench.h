// bench/ring_bench.h: `ringmaster bench ring`, the distributed attention check at scale.
//
// Each row runs the check job (attention/check_job.h) on P ranks, each rank a thread with one
// compute thread and its own UCX worker (real UCX transfers: shared memory on one host), and
// reports the slowest rank's wall time, the ranks' mean compute and transfer-wait times, the
// bytes moved and the parallel efficiency: P-rank throughput over P times the 1-rank throughput
// of the same row (for hybrid rows, of the ring on one rank, which is what a hybrid degenerates
// to). Hybrid rows run at --ulysses-degree U; a worker count U does not divide is skipped with a
// note. A final line compares UcxComm's one-way bandwidth at the ring's block size
// with `ucx_perftest -t tag_bw` at the same size, run in the same session. With --data-auth
// off,on each row runs without and with the data-plane MAC (comm/authenticated_comm.h), and a
// last table gives the wall-time ratio of each pair.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace ringmaster::bench {

struct RingBenchOptions {
  std::vector<int> workers = {1, 2};
  std::vector<int64_t> tokens = {16384, 65536};
  std::vector<std::string> plans = {"contiguous", "zigzag", "striped"};
  std::vector<std::string> context_parallels = {"ring"};
  int ulysses_degree = 2;  // hybrid rows: ranks per Ulysses group (worlds it does not divide skip)
  bool causal = true;
  int64_t n_heads = 4, n_kv_heads = 4, head_dim = 64;
  std::string json_path;
  bool perftest = true;  // also run ucx_perftest for the bandwidth comparison
  // "off" (raw UcxComm) and/or "on" (AuthenticatedComm over it, as workers run it).
  std::vector<std::string> data_auth = {"off"};
};

struct RingBenchRow {
  int workers = 0;
  int64_t tokens = 0;
  std::string plan, context_parallel;
  int ulysses_degree = 1;  // hybrid rows; 1 otherwise
  bool causal = false;
  bool data_auth = false;
  double wall_s = 0, compute_s = 0, wait_s = 0;
  int64_t bytes_moved = 0;
  double tokens_per_s = 0, efficiency = 0;
};

StatusOr<std::vector<RingBenchRow>> run_ring_bench(const RingBenchOptions& options);

}  // namespace ringmaster::bench
