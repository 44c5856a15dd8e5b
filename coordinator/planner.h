// coordinator/planner.h: how a job's tokens are cut over its ranks, decided before any worker
// joins.
//
// The cut itself is comm::PartitionPlan (contiguous, zigzag or striped chunks). The planner
// decides its parameters and refuses what cannot run:
//   - a model job's alignment: the least common multiple of --plan-align and every local/fit
//     group and atlas chunk, so each rank gets whole groups and chunks of every record;
//   - what a model allows: score, generate and variants need a causal model (variants a dna one),
//     atlas needs a left-to-right plan (not striped), ulysses needs the heads divisible by the
//     workers, a hybrid by its --ulysses-degree;
//   - the per-rank memory of the busiest rank (model::memory_estimate at that rank's tokens).
// It completes the JobSpec (plan_align, and a model job's records, width and depth) so that the
// workers rebuild exactly this plan from their Assignment (proto::to_partition_plan).
//
// Pure functions over their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "attention/context_parallel.h"
#include "comm/partition.h"
#include "core/status.h"
#include "io/tokens.h"
#include "model/config.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

struct JobPlan {
  comm::PartitionPlan plan;
  // Model jobs: what the busiest rank holds at its peak (an estimate, not a bound).
  model::MemoryEstimate busiest_rank;
};

// The job spec's name for a context-parallel scheme (what `run` and `plan` put in a spec).
pb::ContextParallel to_pb_context_parallel(attention::ContextParallel how);

// Refuses what `config` cannot do in `job` (see above), naming `config_path` and the block.
Status check_model_allows(const model::ModelConfig& config, const std::string& config_path,
                          const pb::JobSpec& job);

// lcm of `requested` and every group and chunk that must not straddle ranks; kInvalidArgument
// past 2^20 tokens.
StatusOr<int64_t> model_plan_align(const model::ModelConfig& config, int64_t requested);

// Completes a model job from its model and tokenized input (record lengths, d_model, num_blocks,
// plan_align), checks the result with validate_job_spec and makes its plan.
// REQUIRES: job.has_model() and validate_job_request(job) is OK.
StatusOr<JobPlan> plan_model_job(const model::ModelConfig& config, const std::string& config_path,
                                 const io::TokenStream& stream, pb::JobSpec& job);

// The attention check's plan over its num_tokens. Errors: those of validate_job_spec.
StatusOr<JobPlan> plan_check_job(const pb::JobSpec& job);

}  // namespace ringmaster::coordinator
