#include "predict/job.h"

#include "coordinator/planner.h"
#include "proto/convert.h"

namespace ringmaster::predict {

StatusOr<Task> parse_task(std::string_view name) {
  if (name == "embed") return Task::kEmbed;
  if (name == "score") return Task::kScore;
  if (name == "generate") return Task::kGenerate;
  if (name == "variants") return Task::kVariants;
  return invalid_argument("--task '" + std::string(name) +
                          "' is not embed, score, generate or variants");
}

StatusOr<int64_t> busiest_rank_tokens(const PlannedJob& job) {
  RM_ASSIGN_OR_RETURN(const int64_t align, coordinator::model_plan_align(job.config, 1));
  if (job.plan == comm::PlanKind::kStriped) {
    // Stripes of `align` tokens dealt round robin (comm/partition.h), counted rather than built:
    // the plan holds one bound per stripe, L of them for a 100M-token record. Rank 0 gets the
    // most stripes, and the short last one when it is rank 0's.
    if (job.tokens < 0 || job.workers < 1) return invalid_argument("bad tokens or workers");
    const int64_t stripes = (job.tokens + align - 1) / align;
    const int64_t mine = (stripes + job.workers - 1) / job.workers;
    const int64_t short_by = (stripes - 1) % job.workers == 0 ? stripes * align - job.tokens : 0;
    return mine * align - short_by;
  }
  RM_ASSIGN_OR_RETURN(const comm::PartitionPlan plan,
                      comm::PartitionPlan::make(job.plan, job.tokens, job.workers, align));
  return plan.max_local();
}

Status check_job_allowed(const PlannedJob& job) {
  if (job.context_parallel == attention::ContextParallel::kHybrid) {
    // TODO(plan): #18 the 2D layout's volumes are ALGORITHMS.md 3.2's; not modelled yet.
    return invalid_argument("the planner does not model --context-parallel hybrid yet");
  }
  // The coordinator's own check, on the spec the job would have.
  pb::JobSpec spec;
  spec.set_world(job.workers);
  spec.set_plan(proto::to_pb_plan(job.plan));
  spec.set_context_parallel(job.context_parallel == attention::ContextParallel::kUlysses
                                ? pb::CONTEXT_PARALLEL_ULYSSES
                                : pb::CONTEXT_PARALLEL_RING);
  pb::ModelJob& m = *spec.mutable_model();
  m.set_task(job.task == Task::kScore      ? pb::TASK_SCORE
             : job.task == Task::kGenerate ? pb::TASK_GENERATE
             : job.task == Task::kVariants ? pb::TASK_VARIANTS
                                           : pb::TASK_EMBED);
  return coordinator::check_model_allows(job.config, "config.json", spec);
}

}  // namespace ringmaster::predict
