// tests/unit/model/stack_harness.h: running a model directory on P ranks over LocalComm, and the
// independent PyTorch model (tests/reference/model_ref.py) on the same FASTA file, for the stack
// tests (attention family, fit).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "comm/partition.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/shard.h"

namespace ringmaster::model::harness {

inline constexpr int32_t kBos = 5;

struct Records {
  std::vector<int32_t> stream;   // <bos> b1 .. bn per record (ids 0..4 for bases)
  std::vector<int64_t> lengths;  // stream tokens per record
};

// Random DNA records with `lengths` bases each (seeded), written to `fasta_path` when non-empty.
Records make_records(const std::vector<int64_t>& lengths, const std::string& fasta_path);

struct Outputs {
  // Rows no rank wrote stay NaN, so a comparison (tests/testing/close.h) fails on them.
  std::vector<float> hf;          // [stream tokens, d], <bos> rows included, in stream order
  std::vector<float> embeddings;  // [N, d], input tokens only, in input order
  std::vector<float> scores;      // [N] (causal models), NaN otherwise
};

// Runs the model in `dir` on `world` ranks (threads over LocalComm), plan `kind` aligned to
// `align`, and gathers the outputs by stream and input position. Test failures on error.
// `compute`: the dtype of the products (Model::load and the CPU attention backend);
// `rank_weights`: empty (equal shards) or one per rank (comm::PartitionPlan::make_for_records);
// `how`: the scheme of global attention; `backends`: where a rank computes, given its pool
// (empty: the CPU's, the attention backend's products in `compute`).
using BackendsFn = std::function<ShardBackends(ThreadPool&)>;
Outputs run_model(const std::string& dir, const Records& records, comm::PlanKind kind, int world,
                  int64_t align, DType compute = DType::kF32,
                  const std::vector<double>& rank_weights = {},
                  const attention::ContextParallelism& how = {}, const BackendsFn& backends = {});

// Runs the model's forward pass on every rank of `plan` (threads over LocalComm) and returns each
// rank's outcome: for the tests of plans a mixer must refuse.
std::vector<Status> forward_statuses(const std::string& dir, const Records& records,
                                     const comm::PartitionPlan& plan);

// model_ref.py's output for `task` ("embed" or "score"), as doubles.
std::vector<double> run_reference(const std::string& model_dir, const std::string& fasta,
                                  const std::string& task, const std::string& out_dir);

}  // namespace ringmaster::model::harness
