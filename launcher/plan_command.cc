#include "launcher/plan_command.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "io/atomic_file.h"
#include "io/input.h"
#include "launcher/exit_codes.h"
#include "model/config.h"
#include "predict/hardware.h"
#include "predict/memory_model.h"

namespace ringmaster::launcher {
namespace {

// The hardware: the file's (or "typical": what `run` assumes), then each given flag over it.
StatusOr<predict::Hardware> hardware_of(const PlanOptions& o) {
  predict::Hardware hw;
  if (o.hardware_path == kTypicalHardwareName) {
    hw = predict::typical_hardware();
  } else if (!o.hardware_path.empty()) {
    RM_ASSIGN_OR_RETURN(hw, predict::read_hardware_file(o.hardware_path));
  }
  if (!o.flops.empty()) {
    RM_ASSIGN_OR_RETURN(hw.flops, predict::parse_flops(o.flops, "--flops"));
  }
  if (!o.attention_flops.empty()) {
    RM_ASSIGN_OR_RETURN(hw.attention_flops,
                        predict::parse_flops(o.attention_flops, "--attention-flops"));
  }
  if (!o.memory_bandwidth.empty()) {
    RM_ASSIGN_OR_RETURN(hw.memory_bandwidth,
                        predict::parse_bandwidth(o.memory_bandwidth, "--memory-bandwidth"));
  }
  if (!o.link_bandwidth.empty()) {
    RM_ASSIGN_OR_RETURN(hw.link_bandwidth,
                        predict::parse_bandwidth(o.link_bandwidth, "--link-bandwidth"));
  }
  if (!o.link_latency.empty()) {
    RM_ASSIGN_OR_RETURN(hw.link_latency, predict::parse_seconds(o.link_latency, "--link-latency"));
  }
  const Status valid = predict::validate_hardware(hw, "the hardware");
  if (!valid.ok() && o.hardware_path.empty()) {
    return invalid_argument(
        "give --hardware FILE (`ringmaster bench calibrate` writes one) or --flops, "
        "--memory-bandwidth and --link-bandwidth (" +
        valid.message() + ")");
  }
  RM_RETURN_IF_ERROR(valid);
  return hw;
}

StatusOr<model::ModelConfig> config_of(const PlanOptions& o) {
  if (o.model_dir.empty() == o.config_path.empty()) {
    return invalid_argument("give one of --model DIR and --config config.json");
  }
  return model::parse_config(o.config_path.empty() ? o.model_dir + "/config.json" : o.config_path);
}

}  // namespace

StatusOr<attention::ContextParallelism> parse_layout(const std::string& context_parallel,
                                                     int ulysses_degree) {
  RM_ASSIGN_OR_RETURN(const attention::ContextParallel how,
                      attention::parse_context_parallel(context_parallel));
  if (how != attention::ContextParallel::kHybrid) {
    if (ulysses_degree != 0) {
      return invalid_argument("--ulysses-degree " + std::to_string(ulysses_degree) +
                              " is for --context-parallel hybrid");
    }
    return attention::ContextParallelism(how);
  }
  if (ulysses_degree < 1) {
    return invalid_argument("--context-parallel hybrid needs --ulysses-degree U >= 1");
  }
  return attention::ContextParallelism(how, ulysses_degree);
}

StatusOr<predict::PlanReport> run_plan(const PlanOptions& o) {
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, config_of(o));
  RM_ASSIGN_OR_RETURN(const predict::Hardware hw, hardware_of(o));
  int64_t limit = 0;
  if (!o.memory_per_worker.empty()) {
    RM_ASSIGN_OR_RETURN(limit, predict::parse_bytes(o.memory_per_worker, "--memory-per-worker"));
  }
  if (o.tokens < 1) return invalid_argument("--tokens must be at least 1");
  predict::PlannedJob job;
  job.config = std::move(config);
  job.tokens = o.tokens + 1;  // <bos>
  job.workers = o.workers;
  RM_ASSIGN_OR_RETURN(job.plan, comm::parse_plan(o.plan));
  RM_ASSIGN_OR_RETURN(job.context_parallel, parse_layout(o.context_parallel, o.ulysses_degree));
  RM_ASSIGN_OR_RETURN(job.task, predict::parse_task(o.task));
  RM_ASSIGN_OR_RETURN(job.rank_weights, parse_rank_weights(o.rank_weights));
  RM_ASSIGN_OR_RETURN(job.compute, parse_compute_dtype(o.compute_dtype));
  RM_ASSIGN_OR_RETURN(predict::PlanReport report, predict::make_plan(job, hw, limit));
  std::fputs(predict::plan_to_text(report).c_str(), stdout);
  if (!o.json_path.empty()) {
    RM_RETURN_IF_ERROR(io::write_file_atomically(o.json_path, predict::plan_to_json(report, hw)));
  }
  return report;
}

StatusOr<std::optional<predict::PlanReport>> plan_for_run(const JobFlags& flags,
                                                          int64_t max_memory_per_worker) {
  if (flags.model.empty()) return std::optional<predict::PlanReport>();
  RM_ASSIGN_OR_RETURN(model::ModelConfig config, model::parse_config(flags.model + "/config.json"));
  RM_ASSIGN_OR_RETURN(const io::TokenStream stream,
                      io::read_input(flags.input, config.vocab, flags.max_tokens));
  predict::PlannedJob job;
  job.config = std::move(config);
  // The records as the coordinator will cut them (each cut on a group boundary of its record).
  job.tokens = stream.num_tokens();
  for (const io::RecordSpan record : stream.records()) {
    job.record_lengths.push_back(record.length + 1);
  }
  job.plan_align = flags.plan_align;
  job.workers = flags.workers;
  RM_ASSIGN_OR_RETURN(job.plan, comm::parse_plan(flags.plan));
  RM_ASSIGN_OR_RETURN(job.context_parallel,
                      parse_layout(flags.context_parallel, flags.ulysses_degree));
  RM_ASSIGN_OR_RETURN(job.task, predict::parse_task(flags.task));
  // With auto the weights are measured after this plan: it shows the equal split.
  if (!measured_rank_weights(flags.rank_weights)) {
    RM_ASSIGN_OR_RETURN(job.rank_weights, parse_rank_weights(flags.rank_weights));
  }
  RM_ASSIGN_OR_RETURN(job.compute, parse_compute_dtype(flags.compute_dtype));
  RM_ASSIGN_OR_RETURN(predict::PlanReport report,
                      predict::make_plan(job, predict::typical_hardware(), max_memory_per_worker));
  return std::optional<predict::PlanReport>(std::move(report));
}

int check_predicted_memory(const JobFlags& flags, const std::string& max_memory_per_worker,
                           pb::JobSpec& job) {
  int64_t limit = 0;
  if (!max_memory_per_worker.empty()) {
    StatusOr<int64_t> parsed =
        predict::parse_bytes(max_memory_per_worker, "--max-memory-per-worker");
    if (!parsed.ok()) {
      spdlog::error("{}", parsed.status().to_string());
      return kExitUsage;
    }
    limit = *parsed;
  }
  StatusOr<std::optional<predict::PlanReport>> plan = plan_for_run(flags, limit);
  if (!plan.ok()) {
    if (limit > 0) {
      spdlog::warn("--max-memory-per-worker not checked: no memory prediction ({})",
                   plan.status().to_string());
    }
    return kExitOk;
  }
  if (!plan->has_value()) return kExitOk;
  const predict::PlanReport& report = **plan;
  if (!report.verdict.fits) {
    spdlog::error(
        "refusing the job: {} (--max-memory-per-worker {}; see `ringmaster plan --hardware "
        "typical`)",
        report.verdict.text, max_memory_per_worker);
    return kExitBadInput;
  }
  std::string text = predict::memory_to_text(report);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  for (size_t begin = 0; begin <= text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    spdlog::info("{}", text.substr(begin, end - begin));
    begin = end + 1;
  }
  if (limit > 0 && job.rank_weights_auto()) {
    StatusOr<int64_t> most =
        predict::most_rank_tokens_within(report.job, predict::typical_hardware(), limit);
    if (!most.ok()) {
      spdlog::error("{}", most.status().to_string());
      return kExitFailed;
    }
    job.set_max_rank_tokens(*most);
    spdlog::info("--rank-weights auto: at most {} tokens on one rank (--max-memory-per-worker {})",
                 *most, max_memory_per_worker);
  }
  return kExitOk;
}

}  // namespace ringmaster::launcher
