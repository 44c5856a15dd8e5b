#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "comm/make_communicator.h"
#include "coordinator/model_job.h"
#include "coordinator/planner.h"
#include "model/config.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::coordinator {

namespace asio = boost::asio;

namespace {

const char* task_name(pb::Task task) {
  switch (task) {
    case pb::TASK_SCORE:
      return "score";
    case pb::TASK_GENERATE:
      return "generate";
    case pb::TASK_VARIANTS:
      return "variants";
    default:
      return "embed";
  }
}

// "PLAN_ZIGZAG" -> "zigzag", "CONTEXT_PARALLEL_HYBRID" -> "hybrid": a spec enum's name as the
// flags spell it, after its `prefix`.
std::string flag_name(const std::string& enum_name, const std::string& prefix) {
  std::string out;
  for (const char c : enum_name.substr(prefix.size())) {
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// summary.json's fields that every job's spec gives: the workers and how the job is laid out.
io::JobSummary layout_summary(const pb::JobSpec& job) {
  io::JobSummary summary;
  summary.workers = job.world();
  summary.plan = flag_name(pb::Plan_Name(job.plan()), "PLAN_");
  summary.context_parallel =
      flag_name(pb::ContextParallel_Name(job.context_parallel()), "CONTEXT_PARALLEL_");
  if (job.context_parallel() == pb::CONTEXT_PARALLEL_HYBRID) {
    summary.ulysses_degree = job.ulysses_degree();
  }
  summary.rank_weights.assign(job.rank_weights().begin(), job.rank_weights().end());
  return summary;
}

// summary.json's fields that a model job's spec and stream give.
io::JobSummary job_summary(const pb::JobSpec& job, const io::TokenStream& stream) {
  const pb::ModelJob& m = job.model();
  io::JobSummary summary = layout_summary(job);
  summary.model = m.model_dir();
  summary.input = m.input_path();
  summary.task = task_name(m.task());
  summary.vocab = io::vocab_name(stream.vocab());
  summary.records = stream.num_records();
  summary.tokens = stream.num_tokens();
  summary.input_tokens = stream.num_input_tokens();
  return summary;
}

// The attention check's summary: no model or input, one record of its tokens.
io::JobSummary check_summary(const pb::JobSpec& job) {
  io::JobSummary summary = layout_summary(job);
  summary.task = "check";
  summary.records = 1;
  summary.tokens = job.check().num_tokens();
  summary.input_tokens = job.check().num_tokens();
  return summary;
}

// A variants job without a scorable variant: no worker has anything to do, so the coordinator
// writes its output (every row with its status, no score) alone and never listens.
Status write_output_without_workers(const pb::JobSpec& job, const ModelJobInputs& inputs) {
  io::JobSummary summary = job_summary(job, inputs.stream());
  summary.workers = 0;  // none ran
  RM_ASSIGN_OR_RETURN(std::unique_ptr<JobOutput> output,
                      make_variant_output({job.output_path(), inputs.variants(), summary}));
  RM_RETURN_IF_ERROR(output->write(Tensor(), RunFacts{}));
  RM_RETURN_IF_ERROR(output->commit());
  spdlog::info("job {} succeeded without workers (no scorable variant): wrote {}", job.job_id(),
               output->path());
  return ok_status();
}

// A model job's output directory and assignment filler; the spec is completed in place.
// REQUIRES: inputs->has_work().
StatusOr<JobParts> prepare_model_job(pb::JobSpec& job, std::unique_ptr<ModelJobInputs>& inputs) {
  const io::TokenStream& stream = inputs->stream();
  const pb::ModelJob& m = job.model();
  io::JobSummary summary = job_summary(job, stream);
  summary.plan = comm::plan_name(inputs->plan().kind());
  // Logged before the spec (and its summary) moves into the output.
  spdlog::info(
      "job {}: {} records, {} tokens, plan {} aligned to {} tokens, about {} MiB on the "
      "busiest rank",
      job.job_id(), stream.num_records(), stream.num_tokens(), summary.plan, job.plan_align(),
      inputs->busiest_rank_memory().total_bytes >> 20);
  if (job.rank_weights_size() > 0) {
    std::string shares;
    for (int r = 0; r < job.world(); ++r) {
      char entry[96];
      std::snprintf(entry, sizeof entry, "%s%d: weight %g, %lld tokens", r > 0 ? ", " : "", r,
                    job.rank_weights(r), static_cast<long long>(inputs->plan().num_local(r)));
      shares += entry;
    }
    spdlog::info("job {}: rank weights ({})", job.job_id(), shares);
  }
  JobParts parts;
  if (m.task() == pb::TASK_GENERATE) {
    GenerateOutputSpec spec{job.output_path(), stream.vocab(), stream.records(),
                            std::move(summary)};
    RM_ASSIGN_OR_RETURN(parts.output, make_generate_output(std::move(spec)));
  } else if (m.task() == pb::TASK_VARIANTS) {
    VariantOutputSpec spec{job.output_path(), inputs->variants(), std::move(summary)};
    RM_ASSIGN_OR_RETURN(parts.output, make_variant_output(std::move(spec)));
  } else {
    ModelOutputSpec spec{job.output_path(), m.task() == pb::TASK_SCORE, m.pool_mean(),
                         stream.records(), std::move(summary)};
    RM_ASSIGN_OR_RETURN(parts.output, make_model_output(std::move(spec)));
  }
  const ModelJobInputs* source = inputs.get();
  parts.fill_assignment = [source](int rank, pb::Assignment& assignment) {
    source->fill_assignment(rank, assignment);
  };
  parts.progress = job.quiet() ? ProgressMode::kNone : ProgressMode::kAuto;
  return parts;
}

// What a worker of `job` times for --rank-weights auto (worker/calibration.h): the model's
// block MLP, or for the attention check an MLP as wide as its heads.
pb::Calibration calibration_of(const pb::JobSpec& job, const ModelJobInputs* inputs) {
  pb::Calibration c;
  if (inputs != nullptr) {
    c.set_d_model(inputs->config().d_model);
    c.set_mlp_hidden(inputs->config().mlp_hidden);
  } else {
    const int64_t width = int64_t{job.check().n_heads()} * job.check().head_dim();
    c.set_d_model(width);
    c.set_mlp_hidden(4 * width);
  }
  c.set_threads(job.threads());
  c.set_device(job.device());
  c.set_compute_dtype(job.compute_dtype());
  return c;
}

// What the runner reads from the job's cut: the assembler that places each rank's rows, each
// rank's tokens, and a model job's busiest-rank memory estimate. `inputs` is null for the
// attention check.
StatusOr<JobCut> cut_of(const pb::JobSpec& job, const ModelJobInputs* inputs) {
  std::optional<io::Vocab> vocab;
  std::optional<JobPlan> check_plan;
  int64_t busiest_rank_bytes = 0;
  if (inputs != nullptr) {
    vocab = inputs->stream().vocab();
    busiest_rank_bytes = inputs->busiest_rank_memory().total_bytes;
  } else {
    RM_ASSIGN_OR_RETURN(check_plan, plan_check_job(job));
  }
  const comm::PartitionPlan& plan = inputs != nullptr ? inputs->plan() : check_plan->plan;
  std::vector<int64_t> rank_tokens;
  for (int r = 0; r < job.world(); ++r) rank_tokens.push_back(plan.num_local(r));
  RM_ASSIGN_OR_RETURN(ResultAssembler assembler, ResultAssembler::make(job, vocab));
  return JobCut{std::move(assembler), std::move(rank_tokens), busiest_rank_bytes};
}

// Cuts the job again for the weights its workers measured (a model job's inputs re-plan; the
// check's plan is derived from the spec alone).
StatusOr<JobCut> reweight(pb::JobSpec& job, ModelJobInputs* inputs) {
  if (inputs != nullptr) RM_RETURN_IF_ERROR(inputs->replan(job));
  return cut_of(job, inputs);
}

Status check_output_directory(const std::string& output_path) {
  if (output_path.empty()) return invalid_argument("no output path");
  // Refuse a job whose output cannot be written before any worker spends time on it.
  const std::filesystem::path parent = std::filesystem::absolute(output_path).parent_path();
  if (!std::filesystem::is_directory(parent) || ::access(parent.c_str(), W_OK) != 0) {
    return invalid_argument(output_path + ": the directory " + parent.string() +
                            " does not exist or is not writable");
  }
  return ok_status();
}

// The coordinator's runtime knobs, as the spec says.
JobKnobs job_knobs(const pb::JobSpec& job, std::chrono::milliseconds flush_timeout) {
  JobKnobs knobs;
  knobs.heartbeat_interval = std::chrono::milliseconds(job.heartbeat().interval_ms());
  knobs.dead_after = std::chrono::milliseconds(job.heartbeat().dead_after_ms());
  knobs.join_timeout = std::chrono::milliseconds(job.join_timeout_ms());
  knobs.flush_timeout = flush_timeout;
  knobs.max_restarts = static_cast<int>(job.max_restarts());
  knobs.spares = static_cast<int>(job.spares());
  return knobs;
}

}  // namespace

Status run_coordinator(const proto::JobToken& token, const CoordinatorOptions& options) {
  RM_RETURN_IF_ERROR(proto::validate_job_request(options.job));
  RM_RETURN_IF_ERROR(check_output_directory(options.job.output_path()));
  pb::JobSpec job = options.job;
  std::unique_ptr<ModelJobInputs> inputs;  // outlives the runner, which reads it
  JobParts parts;
  if (job.has_model()) {
    RM_ASSIGN_OR_RETURN(ModelJobInputs prepared, ModelJobInputs::prepare(job));
    inputs = std::make_unique<ModelJobInputs>(std::move(prepared));
    if (!inputs->has_work()) return write_output_without_workers(job, *inputs);
    RM_ASSIGN_OR_RETURN(parts, prepare_model_job(job, inputs));
  } else {
    RM_RETURN_IF_ERROR(plan_check_job(job).status());
    parts.output = make_npy_output(job.output_path(), check_summary(job));
    // NCCL: one unique id for every rank, made here, where NCCL's bootstrap root then listens.
    RM_ASSIGN_OR_RETURN(const comm::CommSpec comm_spec, proto::to_comm_spec(job.comm()));
    RM_ASSIGN_OR_RETURN(const std::vector<std::byte> job_id, comm::make_job_id(comm_spec));
    if (!job_id.empty()) {
      std::string bytes(reinterpret_cast<const char*>(job_id.data()), job_id.size());
      parts.fill_assignment = [bytes = std::move(bytes)](int, pb::Assignment& assignment) {
        assignment.set_nccl_unique_id(bytes);
      };
    }
  }
  RM_ASSIGN_OR_RETURN(JobCut cut, cut_of(job, inputs.get()));
  parts.rank_tokens = std::move(cut.rank_tokens);
  if (job.rank_weights_auto()) {
    parts.calibration = calibration_of(job, inputs.get());
    parts.reweight = [source = inputs.get()](pb::JobSpec& spec) { return reweight(spec, source); };
  }

  asio::io_context io(1);
  Strand strand = asio::make_strand(io);
  std::optional<Status> outcome;
  std::optional<Server> server;
  asio::signal_set signals(strand);

  JobRunner runner(strand, job, job_knobs(job, options.flush_timeout), std::move(cut.assembler),
                   std::move(parts), [&](const Status& status) {
                     outcome = status;
                     server->stop();
                     boost::system::error_code ignored;
                     signals.cancel(ignored);
                     io.stop();
                   });
  ServerKnobs server_knobs;
  server_knobs.auth_timeout = std::chrono::milliseconds(job.auth_timeout_ms());
  server.emplace(strand, token, job.job_id(), server_knobs,
                 [&runner](std::shared_ptr<proto::Connection> connection, const pb::Hello& hello) {
                   runner.adopt(std::move(connection), hello);
                 });
  RM_RETURN_IF_ERROR(server->listen(options.listen_host, options.listen_port));
  spdlog::info("job {}: listening on {}:{} for {} workers", job.job_id(), options.listen_host,
               server->port(), job.world());
  if (options.on_listening) options.on_listening(server->port());

  if (options.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      runner.cancel(
          cancelled(std::string("stopped by ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM")));
    });
  }
  asio::post(strand, [&] {
    runner.start();
    server->start();
  });
  io.run();
  if (!outcome) return internal_error("coordinator stopped without an outcome");
  return *outcome;
}

}  // namespace ringmaster::coordinator
