// attention/check_job.h: the attention check, the job the runtime runs before models exist, and
// the workload of `ringmaster bench ring`.
//
// Every rank derives the Q, K and V rows of the tokens it owns from (seed, global token index)
// alone, so any rank, and the single-process reference, can rebuild any row without
// communication. The distributed layer (ring with the job's plan, Ulysses or the hybrid) then
// runs, and each rank returns its output rows in local order. Gathering the rows by global index
// gives a tensor that must equal attend_block on the whole sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/backend.h"
#include "attention/context_parallel.h"
#include "comm/communicator.h"
#include "comm/partition.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace ringmaster::attention {

struct CheckJobSpec {
  int64_t num_tokens = 4096;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 2;
  int64_t head_dim = 64;
  bool causal = true;
  uint64_t seed = 1;
  ContextParallelism context_parallel = ContextParallel::kRing;
};

// Time and traffic of one rank's run, for bench ring.
struct CheckJobStats {
  double wall_s = 0;     // the whole distributed layer
  double compute_s = 0;  // inside attend_block / merge
  double wait_s = 0;     // blocked on transfers
  int64_t bytes_sent = 0;
};

struct CheckJobResult {
  std::vector<int64_t> tokens;  // global indices of the rows, in local order
  Tensor out;                   // [tokens.size(), n_heads, head_dim], f32
  CheckJobStats stats;
};

// Fills rows for the given global token indices: q [n, n_heads, head_dim], k and v
// [n, n_kv_heads, head_dim]. Deterministic in (spec.seed, index).
void make_check_rows(const CheckJobSpec& spec, const std::vector<int64_t>& tokens, Tensor& q,
                     Tensor& k, Tensor& v);

// Runs the check on this rank, its blocks on `backend`. Every rank of `comm` calls it with the
// same spec and plan. `data_device` is where q, k, v and the ring's buffers live: the host, or
// backend.device() when `comm` carries device memory (rows are made on the host, uploaded once,
// and the output downloaded once). Ulysses and the hybrid pack heads on the host and ignore it.
// The output is a host tensor either way.
StatusOr<CheckJobResult> run_check_job(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       const CheckJobSpec& spec, AttentionBackend& backend,
                                       Device data_device = Device::cpu());
// The same on the CPU backend over `pool`.
StatusOr<CheckJobResult> run_check_job(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                       const CheckJobSpec& spec, ThreadPool& pool);

// The single-process answer: attend_block over all num_tokens rows. [L, n_heads, head_dim].
StatusOr<Tensor> check_job_reference(const CheckJobSpec& spec, ThreadPool& pool);

}  // namespace ringmaster::attention
