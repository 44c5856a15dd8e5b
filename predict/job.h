// predict/job.h: the job the planner predicts, as `ringmaster plan` and `ringmaster run` describe
// it, and how many tokens its busiest rank holds. A plain value; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "attention/context_parallel.h"
#include "comm/partition.h"
#include "core/dtype.h"
#include "core/status.h"
#include "model/config.h"

namespace ringmaster::predict {

enum class Task { kEmbed, kScore, kGenerate, kVariants };
StatusOr<Task> parse_task(std::string_view name);  // "embed", "score", "generate", "variants"

struct PlannedJob {
  model::ModelConfig config;
  int64_t tokens = 0;  // L: fed tokens of all records, <bos> included
  // Fed tokens of each record (<bos> included), summing to `tokens`; empty: one record. Cuts move
  // to a group boundary of the record they fall in, and a fit block's groups restart with each
  // record, so `run` gives its input's records.
  std::vector<int64_t> record_lengths;
  int64_t plan_align = 1;  // --plan-align: chunks round to it (and to every group and chunk)
  int workers = 1;         // P
  comm::PlanKind plan = comm::PlanKind::kZigzag;
  // ring, ulysses, or hybrid with its Ulysses degree U (ring degree P / U).
  attention::ContextParallelism context_parallel;
  Task task = Task::kEmbed;
  // --rank-weights: empty (equal workers, equal shards) or one relative speed per worker. Rank r
  // gets w_r / sum(w) of the tokens (comm/partition.h) and computes at w_r / max(w) of the
  // Hardware's rates: the Hardware describes the fastest worker.
  std::vector<double> rank_weights;
  // --compute-dtype: what the products read. bf16 runs at the Hardware's bf16 rates where
  // measured (rates_for) and reads the weights as bf16 in decode; memory stays f32's (the
  // weights' dtype in memory depends on how they are stored, which the config does not say).
  DType compute = DType::kF32;
  // generate and variants keep each block's caches after prefill (ARCHITECTURE.md "After
  // prefill"); embed and score do not.
  bool keeps_caches() const { return task == Task::kGenerate || task == Task::kVariants; }
};

// n: the tokens of the busiest rank under the job's plan, with chunks aligned to the model's
// groups and chunks as the coordinator aligns them (coordinator::model_plan_align).
StatusOr<int64_t> busiest_rank_tokens(const PlannedJob& job);

// The critical rank's tokens in full-speed units: max over ranks of n_r max(w) / w_r, the
// tokens a worker at the Hardware's rates would take as long over as the slowest-finishing rank
// takes over its own (busiest_rank_tokens when the weights are empty or equal). The prefill's
// compute follows it; its bytes follow busiest_rank_tokens.
StatusOr<double> critical_rank_tokens(const PlannedJob& job);

// A fit block's latent tokens over the whole job: latents per group, the groups of each record.
int64_t fit_latent_tokens(const PlannedJob& job, const model::BlockConfig& block);

// U: the ranks of one Ulysses group, 1 for the ring, P for Ulysses, the degree for the hybrid.
int ulysses_group(const PlannedJob& job);

// Per token, the K and V width an all-to-all moves and a ring step carries: the kv heads', or the
// query heads' where U does not divide the kv heads (each rank then gets a copy of its query
// heads' kv heads, attention/hybrid.h).
int64_t moved_kv_dim(const PlannedJob& job);

// Whether the job can run at all as described (what coordinator::check_model_allows refuses:
// atlas with striped, ulysses with heads the workers do not divide, a hybrid degree that does
// not divide the workers or the heads); the message says why.
Status check_job_allowed(const PlannedJob& job);

}  // namespace ringmaster::predict
