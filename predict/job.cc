#include "predict/job.h"

#include <algorithm>
#include <cmath>

#include "attention/hybrid.h"
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

namespace {

bool weighted(const PlannedJob& job) {
  const std::vector<double>& w = job.rank_weights;
  return std::any_of(w.begin(), w.end(), [&](double x) { return x != w.front(); });
}

bool several_records(const PlannedJob& job) { return job.record_lengths.size() > 1; }

// Each rank's tokens where the plan is built: weighted, or over several records (contiguous and
// zigzag hold 2P bounds, striped one per stripe, which an input read into memory affords). A
// weighted striped plan of one record is counted from the stripe shares instead (it could be
// 100M stripes): rank r's u_r / sum(u) of the rounds, to within a stripe.
StatusOr<std::vector<double>> built_rank_tokens(const PlannedJob& job, int64_t align) {
  std::vector<double> tokens;
  if (job.plan == comm::PlanKind::kStriped && !several_records(job)) {
    double sum = 0;
    for (double w : job.rank_weights) sum += w;
    for (double w : job.rank_weights) tokens.push_back(static_cast<double>(job.tokens) * w / sum);
    return tokens;
  }
  const comm::RecordLayout layout = several_records(job) ? comm::RecordLayout(job.record_lengths)
                                                         : comm::RecordLayout::single(job.tokens);
  RM_ASSIGN_OR_RETURN(const comm::PartitionPlan plan,
                      comm::PartitionPlan::make_for_records(job.plan, layout, job.workers, align,
                                                            job.rank_weights));
  for (int r = 0; r < job.workers; ++r) tokens.push_back(static_cast<double>(plan.num_local(r)));
  return tokens;
}

}  // namespace

StatusOr<int64_t> busiest_rank_tokens(const PlannedJob& job) {
  RM_ASSIGN_OR_RETURN(const int64_t align,
                      coordinator::model_plan_align(job.config, job.plan_align));
  RM_RETURN_IF_ERROR(
      comm::check_rank_weights(job.rank_weights, job.workers).with_context("--rank-weights"));
  if (weighted(job) || several_records(job)) {
    RM_ASSIGN_OR_RETURN(const std::vector<double> tokens, built_rank_tokens(job, align));
    return static_cast<int64_t>(std::ceil(*std::max_element(tokens.begin(), tokens.end())));
  }
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

StatusOr<double> critical_rank_tokens(const PlannedJob& job) {
  if (!weighted(job)) {
    RM_ASSIGN_OR_RETURN(const int64_t n, busiest_rank_tokens(job));
    return static_cast<double>(n);
  }
  RM_RETURN_IF_ERROR(
      comm::check_rank_weights(job.rank_weights, job.workers).with_context("--rank-weights"));
  RM_ASSIGN_OR_RETURN(const int64_t align,
                      coordinator::model_plan_align(job.config, job.plan_align));
  RM_ASSIGN_OR_RETURN(const std::vector<double> tokens, built_rank_tokens(job, align));
  const double fastest = *std::max_element(job.rank_weights.begin(), job.rank_weights.end());
  double critical = 0;
  for (size_t r = 0; r < tokens.size(); ++r) {
    critical = std::max(critical, tokens[r] * fastest / job.rank_weights[r]);
  }
  return critical;
}

int64_t fit_latent_tokens(const PlannedJob& job, const model::BlockConfig& block) {
  auto groups = [&](int64_t length) { return (length + block.group - 1) / block.group; };
  int64_t total = 0;
  if (several_records(job)) {
    for (const int64_t length : job.record_lengths) total += groups(length);
  } else {
    total = groups(job.tokens);
  }
  return total * block.latents;
}

int ulysses_group(const PlannedJob& job) {
  switch (job.context_parallel.how) {
    case attention::ContextParallel::kRing:
      return 1;
    case attention::ContextParallel::kUlysses:
      return job.workers;
    case attention::ContextParallel::kHybrid:
      return job.context_parallel.ulysses_degree;
  }
  return 1;
}

int64_t moved_kv_dim(const PlannedJob& job) {
  const model::ModelConfig& c = job.config;
  return c.n_kv_heads % ulysses_group(job) == 0 ? c.kv_dim() : c.q_dim();
}

Status check_job_allowed(const PlannedJob& job) {
  const attention::ContextParallel how = job.context_parallel.how;
  if (how == attention::ContextParallel::kHybrid) {
    RM_RETURN_IF_ERROR(attention::check_hybrid(job.workers, job.context_parallel.ulysses_degree,
                                               job.config.n_heads));
  }
  // The coordinator's own check, on the spec the job would have.
  pb::JobSpec spec;
  spec.set_world(job.workers);
  spec.set_plan(proto::to_pb_plan(job.plan));
  spec.set_context_parallel(coordinator::to_pb_context_parallel(how));
  if (how == attention::ContextParallel::kHybrid) {
    spec.set_ulysses_degree(job.context_parallel.ulysses_degree);
  }
  pb::ModelJob& m = *spec.mutable_model();
  m.set_task(job.task == Task::kScore      ? pb::TASK_SCORE
             : job.task == Task::kGenerate ? pb::TASK_GENERATE
             : job.task == Task::kVariants ? pb::TASK_VARIANTS
                                           : pb::TASK_EMBED);
  return coordinator::check_model_allows(job.config, "config.json", spec);
}

}  // namespace ringmaster::predict
