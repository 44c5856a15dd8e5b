// launcher/plan_command.h: `ringmaster plan`, the planner (predict/planner.h) on the command
// line, and the memory check `ringmaster run` makes before it launches.
//
//   ringmaster plan --model DIR | --config config.json --tokens N --workers P
//       [--memory-per-worker 16GiB] [--hardware hw.json] [--flops F --memory-bandwidth BW
//       --link-bandwidth B --link-latency A] [--plan zigzag] [--context-parallel ring]
//       [--task embed] [--rank-weights w0,w1,...] [--json out.json]
// The rate flags override the hardware file's values; without a file all of --flops,
// --memory-bandwidth and --link-bandwidth are needed. Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "launcher/job_flags.h"
#include "predict/planner.h"

namespace ringmaster::launcher {

struct PlanOptions {
  std::string model_dir;
  std::string config_path;
  int64_t tokens = 0;  // input tokens (bases or bytes) of one record; the model is fed N + 1
  int workers = 1;
  std::string memory_per_worker;  // "" : no limit
  std::string hardware_path;
  std::string flops, attention_flops, memory_bandwidth, link_bandwidth, link_latency;
  std::string plan = "zigzag";
  std::string context_parallel = "ring";
  int ulysses_degree = 0;  // --context-parallel hybrid only (required there)
  std::string task = "embed";
  std::vector<std::string> rank_weights;  // --rank-weights w0,w1,...: relative worker speeds
  std::string compute_dtype = "f32";      // --compute-dtype: f32 or bf16
  std::string json_path;
};

// --context-parallel and --ulysses-degree as `run`, `plan` and `bench sweep` take them: the
// degree only with hybrid, and required there (the divisibility checks are the job's).
StatusOr<attention::ContextParallelism> parse_layout(const std::string& context_parallel,
                                                     int ulysses_degree);

// Prints the plan and writes it as JSON when asked. Errors: bad flags, files or sizes
// (kInvalidArgument, kNotFound), naming the flag or file.
StatusOr<predict::PlanReport> run_plan(const PlanOptions& options);

// `plan --hardware typical`: the hardware `run` predicts with (predict::typical_hardware), so that
// `plan` can say why `run --max-memory-per-worker` refused a job.
inline constexpr std::string_view kTypicalHardwareName = "typical";

// What a model job of `flags` will hold per worker, from its model's config and its input (read
// here once, as the coordinator will), on predict::typical_hardware(). nullopt for the attention
// check, which has no model. Errors: the config or input is unusable.
StatusOr<std::optional<predict::PlanReport>> plan_for_run(const JobFlags& flags,
                                                          int64_t max_memory_per_worker);

// `run` and `coordinator`'s --max-memory-per-worker ("" : no limit): logs plan_for_run's memory
// prediction of a model job and refuses one over the limit, returning the exit code to end with
// (kExitOk to go on). With --rank-weights auto the prediction is of the equal split, and `job`
// gets the most tokens one rank may hold within the limit (max_rank_tokens), which the measured
// cut keeps to. A config or input the planner cannot read is left to the coordinator, which
// reports it as it always has.
int check_predicted_memory(const JobFlags& flags, const std::string& max_memory_per_worker,
                           pb::JobSpec& job);

}  // namespace ringmaster::launcher
