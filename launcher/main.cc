// The `ringmaster` command line. Subcommands parse their flags here and call into the rooms
// below; this is the only place that reads the environment (RINGMASTER_TOKEN, the rank hints of
// SLURM / Open MPI / torchrun) or decides exit codes (launcher/exit_codes.h, README.md).
//
//   ringmaster run --workers N ... --out FILE.npy       coordinator + N workers on this host
//   ringmaster coordinator --listen HOST:PORT --workers N ... --out FILE.npy
//   ringmaster worker --coordinator HOST:PORT           for cluster launch scripts
//   ringmaster plan --model DIR --tokens N --workers P ...  predictions before a launch
//   ringmaster bench kernel | ring | model | decode | variants | calibrate | sweep | report ...
//                                                       benchmarks (never timed tests)
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "bench/kernel_bench.h"
#include "bench/ring_bench.h"
#include "coordinator/coordinator.h"
#include "core/logging.h"
#include "core/printable.h"
#include "io/atomic_file.h"
#include "launcher/calibrate.h"
#include "launcher/decode_bench.h"
#include "launcher/exit_codes.h"
#include "launcher/job_flags.h"
#include "launcher/local_run.h"
#include "launcher/model_bench.h"
#include "launcher/model_commands.h"
#include "launcher/plan_command.h"
#include "launcher/spec_handoff.h"
#include "launcher/sweep.h"
#include "launcher/variants_bench.h"
#include "proto/auth.h"
#include "proto/validate.h"
#include "worker/worker.h"

namespace {

using namespace ringmaster;
using namespace ringmaster::launcher;

int report(const Status& status) {
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "ringmaster: %s\n", status.to_string().c_str());
  return kExitFailed;
}

void add_bench_kernel(CLI::App& bench, bench::KernelBenchOptions& options) {
  CLI::App* kernel = bench.add_subcommand(
      "kernel", "CPU attention block kernel vs the GEMM it runs on, and peak memory at long L");
  kernel->add_option("--json", options.json_path, "also write the rows as a JSON array here");
  kernel->add_option("--lengths", options.lengths, "sequence lengths Lq = Lk")
      ->delimiter(',')
      ->capture_default_str();
  kernel->add_option("--head-dims", options.head_dims, "head dimensions")
      ->delimiter(',')
      ->capture_default_str();
  kernel->add_option("--threads", options.threads, "thread counts")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  kernel
      ->add_option("--rss-length", options.rss_length,
                   "length of the peak-memory row (one head); 0 skips it")
      ->capture_default_str();
  kernel
      ->add_option("--dtype", options.dtype,
                   "the tile products' inputs: f32 (ratio against sgemm) or bf16 (ratio against "
                   "the bf16 GEMM on the same shapes)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  kernel->add_flag("--quiet", options.quiet, "no table on stdout");
}

void add_bench_ring(CLI::App& bench, bench::RingBenchOptions& options) {
  CLI::App* ring = bench.add_subcommand(
      "ring", "distributed attention over P UCX ranks: time, waits, bytes, efficiency");
  ring->add_option("--workers", options.workers, "worker counts")
      ->delimiter(',')
      ->capture_default_str();
  ring->add_option("--tokens", options.tokens, "sequence lengths")
      ->delimiter(',')
      ->capture_default_str();
  ring->add_option("--plan", options.plans, "contiguous, zigzag, striped")
      ->delimiter(',')
      ->capture_default_str();
  ring->add_option("--context-parallel", options.context_parallels, "ring, ulysses, hybrid")
      ->delimiter(',')
      ->capture_default_str();
  ring->add_option("--ulysses-degree", options.ulysses_degree,
                   "hybrid rows: ranks per Ulysses group (must divide the worker count)")
      ->capture_default_str();
  ring->add_flag("--causal,!--bidirectional", options.causal, "mask (default causal)");
  ring->add_option("--heads", options.n_heads)->capture_default_str();
  ring->add_option("--kv-heads", options.n_kv_heads)->capture_default_str();
  ring->add_option("--head-dim", options.head_dim)->capture_default_str();
  ring->add_option("--json", options.json_path, "also write the rows as a JSON array here");
  ring->add_flag("!--no-perftest", options.perftest, "skip the ucx_perftest comparison");
  ring->add_option("--data-auth", options.data_auth,
                   "off, on or off,on: run each row without and/or with the data-plane MAC")
      ->delimiter(',')
      ->capture_default_str();
}

void add_bench_model(CLI::App& bench, ModelBenchOptions& options) {
  CLI::App* model = bench.add_subcommand(
      "model", "whole model jobs (ringmaster run) at several lengths and worker counts");
  model->add_option("--model", options.model_dir, "model directory")->required();
  model->add_option("--tokens", options.tokens, "input lengths (bases)")
      ->delimiter(',')
      ->capture_default_str();
  model->add_option("--workers", options.workers, "worker counts")
      ->delimiter(',')
      ->capture_default_str();
  model->add_option("--threads", options.threads, "compute threads per worker")
      ->capture_default_str();
  model->add_option("--task", options.task, "embed or score")->capture_default_str();
  model->add_option("--plan", options.plan, "contiguous, zigzag, striped")->capture_default_str();
  model
      ->add_option("--compute-dtype", options.compute_dtypes,
                   "run each job in these compute dtypes (f32, bf16); speedup is over f32")
      ->delimiter(',')
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->capture_default_str();
  model
      ->add_option("--repeats", options.repeats,
                   "runs of each job, interleaved over the dtypes; the fastest is the row")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  model->add_option("--work-dir", options.work_dir, "where inputs and outputs go (default: /tmp)");
  model->add_option("--json", options.json_path, "also write the rows as a JSON array here");
}

void add_bench_variants(CLI::App& bench, VariantsBenchOptions& options) {
  CLI::App* v = bench.add_subcommand(
      "variants", "variants jobs (full context, --rc-average, windowed) against a score job");
  v->add_option("--model", options.model_dir, "model directory (causal dna)")->required();
  v->add_option("--bases", options.bases, "bases of the record")->capture_default_str();
  v->add_option("--variants", options.variants, "SNVs spread along it")->capture_default_str();
  v->add_option("--downstream", options.downstream, "D of the full-context jobs")
      ->capture_default_str();
  v->add_option("--window-context", options.window_context, "C of the windowed job")
      ->capture_default_str();
  v->add_option("--window-downstream", options.window_downstream, "D of the windowed job")
      ->capture_default_str();
  v->add_option("--window-variants", options.window_variants, "SNVs of the windowed job")
      ->capture_default_str();
  v->add_option("--workers", options.workers, "workers per job")->capture_default_str();
  v->add_option("--threads", options.threads, "compute threads per worker")->capture_default_str();
  v->add_option("--attention-model", options.attention_model_dir,
                "also time a model with attention blocks at each --attention-tokens");
  v->add_option("--attention-tokens", options.attention_tokens, "context lengths (bases)")
      ->delimiter(',')
      ->capture_default_str();
  v->add_option("--attention-variants", options.attention_variants, "SNVs per attention job")
      ->capture_default_str();
  v->add_option("--work-dir", options.work_dir, "where inputs and outputs go (default: /tmp)");
  v->add_option("--json", options.json_path, "also write the table as JSON here");
}

void add_bench_decode(CLI::App& bench, DecodeBenchOptions& options) {
  CLI::App* decode = bench.add_subcommand(
      "decode", "generate jobs: prefill, time per new token, K/V GB/s against a STREAM triad");
  decode->add_option("--model", options.model_dir, "model directory (causal)")->required();
  decode->add_option("--tokens", options.tokens, "prompt lengths (bases)")
      ->delimiter(',')
      ->capture_default_str();
  decode->add_option("--workers", options.workers, "worker counts")
      ->delimiter(',')
      ->capture_default_str();
  decode->add_option("--new-tokens", options.new_tokens, "tokens generated per job (>= 2)")
      ->capture_default_str();
  decode->add_option("--threads", options.threads, "compute threads per worker")
      ->capture_default_str();
  decode->add_option("--plan", options.plan, "contiguous, zigzag, striped")->capture_default_str();
  decode->add_option("--work-dir", options.work_dir, "where inputs and outputs go (default: /tmp)");
  decode->add_option("--json", options.json_path, "also write the rows as a JSON array here");
}

void add_bench_sweep(CLI::App& bench, SweepOptions& options) {
  CLI::App* sweep = bench.add_subcommand(
      "sweep", "scaling runs (ringmaster run) over worker counts and lengths, one JSON each");
  sweep->add_option("--model", options.model_dir, "model directory");
  sweep->add_flag("--attention-check", options.attention_check, "the attention check instead");
  sweep->add_option("--workers", options.workers, "worker counts")
      ->delimiter(',')
      ->capture_default_str();
  sweep->add_option("--tokens", options.tokens, "lengths: N, Nk (x 1024) or Nm (x 1024^2)")
      ->delimiter(',')
      ->capture_default_str();
  sweep->add_option("--repeat", options.repeat, "runs of each configuration")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  sweep->add_option("--threads", options.threads, "compute threads per worker")
      ->capture_default_str();
  sweep->add_option("--task", options.task, "embed or score")->capture_default_str();
  sweep->add_option("--plan", options.plan, "contiguous, zigzag, striped")->capture_default_str();
  sweep->add_option("--context-parallel", options.context_parallel, "ring, ulysses or hybrid")
      ->capture_default_str();
  sweep->add_option(
      "--ulysses-degree", options.ulysses_degree,
      "hybrid: ranks per Ulysses group (worker counts it does not divide are skipped)");
  sweep->add_option("--hardware", options.hardware_path,
                    "hardware JSON for the predictions (bench calibrate --out writes one)");
  sweep->add_flag("--rerun-failed", options.rerun_failed, "run again the runs that failed");
  sweep->add_option("--out", options.out, "directory of the run files")->capture_default_str();
}

void add_bench_report(CLI::App& bench, ReportOptions& options) {
  CLI::App* report = bench.add_subcommand(
      "report", "a sweep's runs as report.csv, report.md and PNG plots, in its directory");
  report->add_option("runs", options.runs_dir, "the sweep's --out directory")->required();
  report->add_option("--python", options.python, "the Python with matplotlib")
      ->capture_default_str();
  report->add_option("--plot-script", options.plot_script,
                     "default: scripts/sweep_plot.py of the source tree");
  report->add_flag("!--no-plots", options.plots, "write the CSV and the table only");
}

void add_bench_calibrate(CLI::App& bench, CalibrateOptions& options) {
  CLI::App* c = bench.add_subcommand(
      "calibrate", "measure what `ringmaster plan` needs here and write it as its --hardware file");
  c->add_option("--out", options.out, "hardware JSON to write (default: print it)");
  c->add_option("--model", options.model_dir, "measure at this model's shapes and block kinds");
  c->add_option("--config", options.config_path, "... or at this config.json's");
  c->add_option("--threads", options.threads, "compute threads per worker")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  c->add_option("--block-tokens", options.block_tokens, "tokens of each one-block forward")
      ->capture_default_str();
  c->add_option("--attention-tokens", options.attention_tokens,
                "tokens of the global attention block's forward")
      ->capture_default_str();
  c->add_option("--work-dir", options.work_dir, "where models and the tiny job go (default: /tmp)");
}

void add_plan_command(CLI::App& app, PlanOptions& o, CLI::App*& plan) {
  plan = app.add_subcommand(
      "plan", "predict a job's memory per worker, prefill and decode time, before launching it");
  plan->add_option("--model", o.model_dir, "model directory");
  plan->add_option("--config", o.config_path, "or just its config.json");
  plan->add_option("--tokens", o.tokens, "input tokens (bases or bytes) of one record")->required();
  plan->add_option("--workers", o.workers, "P")
      ->check(CLI::Range(1, predict::kMaxPlannedWorkers))
      ->required();
  plan->add_option("--memory-per-worker", o.memory_per_worker,
                   "memory each worker has, e.g. 16GiB (default: no limit)");
  plan->add_option("--hardware", o.hardware_path,
                   "hardware JSON (ringmaster bench calibrate --out writes one), or 'typical': "
                   "the rates run's own prediction assumes");
  plan->add_option("--flops", o.flops, "achieved FLOP/s per worker (50G, 1.2T)");
  plan->add_option("--attention-flops", o.attention_flops,
                   "achieved FLOP/s of attention's products (default: --flops)");
  plan->add_option("--memory-bandwidth", o.memory_bandwidth, "bytes/s per worker (12GB/s)");
  plan->add_option("--link-bandwidth", o.link_bandwidth, "per direction: 25Gbit/s, 3GB/s");
  plan->add_option("--link-latency", o.link_latency, "per message: 5us");
  plan->add_option("--plan", o.plan, "contiguous, zigzag, striped")->capture_default_str();
  plan->add_option("--context-parallel", o.context_parallel, "ring, ulysses, hybrid")
      ->capture_default_str();
  plan->add_option("--ulysses-degree", o.ulysses_degree,
                   "hybrid: ranks per Ulysses group (must divide --workers and the heads)");
  plan->add_option("--task", o.task, "embed, score, generate (keeps caches), variants")
      ->capture_default_str();
  plan->add_option("--rank-weights", o.rank_weights,
                   "workers of different speeds: w0,w1,... relative to the fastest, whose rates "
                   "the hardware gives; shards sized as `run --rank-weights` sizes them")
      ->delimiter(',');
  plan->add_option("--compute-dtype", o.compute_dtype,
                   "f32 or bf16: what the products read, as `run --compute-dtype`; bf16 is "
                   "predicted at the hardware file's bf16 rates (bench calibrate measures them)")
      ->capture_default_str();
  plan->add_option("--json", o.json_path, "also write the prediction as JSON here");
}

void add_model_commands(CLI::App& app, InitOptions& init_options, InspectOptions& inspect_options,
                        CLI::App*& init, CLI::App*& inspect) {
  init = app.add_subcommand("init", "write a model directory with random weights");
  init->add_option("--config", init_options.config_path,
                   "config.json to take the architecture from")
      ->required();
  init->add_option("--seed", init_options.seed, "random seed")->capture_default_str();
  init->add_option("--out", init_options.out_dir, "model directory to write")->required();
  init->add_option("--dtype", init_options.dtype, "stored dtype: f32, bf16, f16")
      ->capture_default_str();
  inspect = app.add_subcommand("inspect", "print a model's architecture, size and memory needs");
  inspect->add_option("model", inspect_options.model_dir, "model directory")->required();
  inspect->add_option("--tokens", inspect_options.tokens, "L for the memory estimate")
      ->capture_default_str();
  inspect->add_option("--workers", inspect_options.workers, "P for the memory estimate")
      ->capture_default_str();
}

// The job token: from --token-file (mode 0600) when given, else RINGMASTER_TOKEN.
StatusOr<proto::JobToken> job_token(const std::string& token_file) {
  if (!token_file.empty()) return proto::read_token_file(token_file);
  const char* value = std::getenv("RINGMASTER_TOKEN");
  if (value == nullptr || *value == '\0') {
    return failed_precondition(
        "no job token: set RINGMASTER_TOKEN or pass --token-file "
        "(a file readable by its owner only)");
  }
  auto token = proto::JobToken::from_secret(value);
  if (!token.ok()) return token.status().with_context("RINGMASTER_TOKEN");
  return token;
}

// SLURM, then Open MPI, then torchrun-style; -1 when none is set or parsable.
int rank_hint_from_environment() {
  for (const char* name : {"SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "RANK"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long rank = std::strtol(value, &end, 10);
    if (*end == '\0' && rank >= 0 && rank < proto::kMaxWorld) return static_cast<int>(rank);
    spdlog::warn("ignoring {}='{}': not a rank", name, value);
  }
  return -1;
}

// RINGMASTER_TESTING_SILENT_RANK=<rank>: the fault injection of the per-step deadline test (a
// worker that heartbeats but never sends its blocks; worker/worker.h). -1 when unset or not a rank,
// and always -1 outside test builds (CMake option RINGMASTER_TESTING_FAULTS): the product never
// reads the variable.
int testing_silent_rank_from_environment() {
#ifndef RINGMASTER_HAVE_TESTING_FAULTS
  return -1;
#else
  const char* value = std::getenv("RINGMASTER_TESTING_SILENT_RANK");
  if (value == nullptr || *value == '\0') return -1;
  char* end = nullptr;
  const long rank = std::strtol(value, &end, 10);
  if (*end == '\0' && rank >= 0 && rank < proto::kMaxWorld) return static_cast<int>(rank);
  spdlog::warn("ignoring RINGMASTER_TESTING_SILENT_RANK='{}': not a rank", value);
  return -1;
#endif
}

// RINGMASTER_TESTING_SPEEDS=s0,s1,...: the speed a worker with rank hint r registers with in a
// --rank-weights auto job instead of measuring (worker/worker.h), so a test can give two equal
// workers different speeds. 0 when unset, without a hint or an entry, or outside test builds.
double testing_speed_from_environment(int rank_hint) {
#ifndef RINGMASTER_HAVE_TESTING_FAULTS
  (void)rank_hint;
  return 0;
#else
  const char* value = std::getenv("RINGMASTER_TESTING_SPEEDS");
  if (value == nullptr || rank_hint < 0) return 0;
  std::string_view rest(value);
  for (int r = 0; !rest.empty(); ++r) {
    const size_t comma = rest.find(',');
    const std::string entry(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (r != rank_hint) continue;
    char* end = nullptr;
    const double speed = std::strtod(entry.c_str(), &end);
    if (!entry.empty() && *end == '\0' && std::isfinite(speed) && speed > 0) return speed;
    spdlog::warn("ignoring RINGMASTER_TESTING_SPEEDS entry '{}': not a speed", entry);
    return 0;
  }
  return 0;
#endif
}

// This process's rank among the workers on its host, from the first of LOCAL_RANK, SLURM_LOCALID
// and OMPI_COMM_WORLD_LOCAL_RANK that is set; 0 when none is. It picks the GPU of an nccl rank.
int local_rank_from_environment() {
  for (const char* name : {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long rank = std::strtol(value, &end, 10);
    if (*end == '\0' && rank >= 0 && rank < proto::kMaxWorld) return static_cast<int>(rank);
    spdlog::warn("ignoring {}='{}': not a local rank", name, value);
  }
  return 0;
}

// A child of `ringmaster run` dies with the launcher, even if the launcher is SIGKILLed.
Status follow_parent(int64_t parent_pid) {
  if (parent_pid <= 0) return ok_status();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The launcher may have died before prctl took effect.
  if (::getppid() != parent_pid) return cancelled("the launcher exited before this process began");
  return ok_status();
}

// Writes "<port>\n" to `path` atomically, so a reader never sees half.
Status write_port_file(const std::string& path, uint16_t port) {
  return io::write_file_atomically(path, std::to_string(port) + "\n");
}

struct CoordinatorFlags {
  JobFlags job;
  std::string listen = "127.0.0.1:0";
  std::string port_file;
  std::string token_file;
  int ready_fd = -1;
  int job_spec_fd = -1;  // `ringmaster run` hands its JobSpec here instead of job flags
  int64_t parent_pid = 0;
  std::string max_memory_per_worker;  // as run's; "" : no limit
};

// The job of `ringmaster coordinator`: the flags', or the spec `ringmaster run` handed over.
StatusOr<pb::JobSpec> coordinator_job(const CoordinatorFlags& flags, const CLI::App& command) {
  if (flags.job_spec_fd < 0) return job_spec_from_flags(flags.job);
  // Only the process options may come with a handed-over spec, so nothing is described twice.
  static const std::set<std::string> kProcessOptions = {"job-spec-fd", "listen",   "port-file",
                                                        "token-file",  "ready-fd", "parent-pid"};
  for (const CLI::Option* option : command.get_options()) {
    if (option->count() == 0 || option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    if (kProcessOptions.count(name) == 0) {
      return invalid_argument("--" + name + " cannot be combined with --job-spec-fd");
    }
  }
  return read_job_spec_fd(flags.job_spec_fd);
}

int run_coordinator_command(const CoordinatorFlags& flags, const CLI::App& command) {
  if (Status status = follow_parent(flags.parent_pid); !status.ok()) return report(status);
  StatusOr<HostPort> listen = parse_host_port(flags.listen);
  StatusOr<pb::JobSpec> job = coordinator_job(flags, command);
  if (!listen.ok() || !job.ok()) {
    std::fprintf(stderr, "ringmaster: %s\n",
                 (!listen.ok() ? listen.status() : job.status()).to_string().c_str());
    return kExitUsage;
  }
  if (const int code = check_predicted_memory(flags.job, flags.max_memory_per_worker, *job);
      code != kExitOk) {
    return code;
  }
  coordinator::CoordinatorOptions options;
  options.job = *std::move(job);
  StatusOr<proto::JobToken> token = job_token(flags.token_file);
  if (!token.ok()) {
    report(token.status());
    return kExitAuth;
  }
  options.listen_host = listen->host;
  options.listen_port = listen->port;
  Status listening_status;
  bool listened = false;
  options.on_listening = [&](uint16_t port) {
    listened = true;
    if (flags.ready_fd < 0) {  // `ringmaster run` learns the port through the pipe instead
      std::printf("ringmaster coordinator: listening on %s:%u\n", listen->host.c_str(), port);
      std::fflush(stdout);
    }
    if (!flags.port_file.empty()) listening_status = write_port_file(flags.port_file, port);
    if (flags.ready_fd >= 0) {
      const std::string line = std::to_string(port) + "\n";
      (void)!::write(flags.ready_fd, line.data(), line.size());
      ::close(flags.ready_fd);
    }
  };
  const Status status = coordinator::run_coordinator(*token, options);
  if (!flags.port_file.empty()) std::remove(flags.port_file.c_str());
  if (!listening_status.ok()) spdlog::warn("{}", listening_status.to_string());
  if (!status.ok()) std::fprintf(stderr, "ringmaster: %s\n", status.to_string().c_str());
  return coordinator_exit_code(status, !listened);
}

struct WorkerFlags {
  std::string coordinator;
  std::string token_file;
  std::string host;
  std::string job_id;  // empty: any job whose coordinator holds the token
  int rank_hint = -1;
  int local_rank = -1;  // -1: from the environment
  uint32_t connect_timeout_ms = 60000;
  uint32_t abort_grace_ms = 10000;
  int64_t parent_pid = 0;
};

int run_worker_command(const WorkerFlags& flags) {
  if (Status status = follow_parent(flags.parent_pid); !status.ok()) return report(status);
  StatusOr<HostPort> target = parse_host_port(flags.coordinator);
  if (!target.ok()) {
    report(target.status());
    return kExitUsage;
  }
  if (!flags.host.empty() && !is_safe_host_name(flags.host)) {
    // The coordinator would refuse it (validate_hello); say so before trying.
    report(invalid_argument("--host '" + printable(flags.host, 64) +
                            "' has a character outside [A-Za-z0-9._:-]"));
    return kExitUsage;
  }
  StatusOr<proto::JobToken> token = job_token(flags.token_file);
  if (!token.ok()) {
    report(token.status());
    return kExitAuth;
  }
  worker::WorkerOptions options;
  options.coordinator_host = target->host;
  options.coordinator_port = target->port;
  options.rank_hint = flags.rank_hint >= 0 ? flags.rank_hint : rank_hint_from_environment();
  options.local_rank = flags.local_rank >= 0 ? flags.local_rank : local_rank_from_environment();
  options.host = flags.host;
  options.job_id = flags.job_id;
  options.connect.connect_timeout = std::chrono::milliseconds(flags.connect_timeout_ms);
  options.abort_grace = std::chrono::milliseconds(flags.abort_grace_ms);
  options.testing_silent_rank = testing_silent_rank_from_environment();
  options.testing_speed = testing_speed_from_environment(options.rank_hint);
  const worker::WorkerOutcome outcome = worker::run_worker(*token, options);
  const int code = worker_exit_code(outcome.exit);
  if (outcome.abandoned_thread) {
    // A shard thread past the abort grace (a CUDA kernel, a hung UCX close: cancellation stops
    // everything else) cannot be joined; leave without running destructors.
    spdlog::shutdown();
    std::fflush(nullptr);
    ::_exit(code);
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringmaster: exact long-context inference over many workers"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();

  CLI::App* bench = app.add_subcommand("bench", "benchmarks (never timed tests)");
  bench->require_subcommand(1);
  bench::KernelBenchOptions kernel_options;
  add_bench_kernel(*bench, kernel_options);
  bench::RingBenchOptions ring_options;
  add_bench_ring(*bench, ring_options);
  ModelBenchOptions model_bench_options;
  add_bench_model(*bench, model_bench_options);
  DecodeBenchOptions decode_bench_options;
  add_bench_decode(*bench, decode_bench_options);
  VariantsBenchOptions variants_bench_options;
  add_bench_variants(*bench, variants_bench_options);
  CalibrateOptions calibrate_options;
  add_bench_calibrate(*bench, calibrate_options);
  SweepOptions sweep_options;
  add_bench_sweep(*bench, sweep_options);
  ReportOptions report_options;
  add_bench_report(*bench, report_options);
  PlanOptions plan_options;
  CLI::App* plan = nullptr;
  add_plan_command(app, plan_options, plan);
  InitOptions init_options;
  InspectOptions inspect_options;
  CLI::App* init = nullptr;
  CLI::App* inspect = nullptr;
  add_model_commands(app, init_options, inspect_options, init, inspect);

  LocalRunOptions run_options;
  CLI::App* run = app.add_subcommand("run", "run a job: a coordinator and N workers on this host");
  add_job_flags(*run, run_options.job);
  run->add_option("--listen-host", run_options.listen_host, "address the coordinator binds")
      ->capture_default_str();
  run->add_option("--connect-timeout-ms", run_options.connect_timeout_ms,
                  "how long a worker keeps trying to reach the coordinator")
      ->capture_default_str();
  run->add_option("--abort-grace-ms", run_options.abort_grace_ms,
                  "how long a stopping worker waits for its shard thread")
      ->capture_default_str();
  run->add_option("--max-memory-per-worker", run_options.max_memory_per_worker,
                  "refuse a model job `ringmaster plan` predicts to need more, e.g. 16GiB "
                  "(default: no limit)");

  CoordinatorFlags coordinator_flags;
  CLI::App* coordinator = app.add_subcommand(
      "coordinator", "serve one job: wait for its workers, assign ranks, gather the output");
  add_job_flags(*coordinator, coordinator_flags.job, /*required=*/false);
  coordinator
      ->add_option("--listen", coordinator_flags.listen,
                   "HOST:PORT to bind (port 0: ephemeral; 0.0.0.0 only if you mean it)")
      ->capture_default_str();
  coordinator->add_option("--port-file", coordinator_flags.port_file,
                          "write the bound port here (for workers started elsewhere)");
  coordinator->add_option("--token-file", coordinator_flags.token_file,
                          "job token file, mode 0600 (default: RINGMASTER_TOKEN)");
  coordinator->add_option("--max-memory-per-worker", coordinator_flags.max_memory_per_worker,
                          "refuse a model job `ringmaster plan` predicts to need more, e.g. 16GiB "
                          "(default: no limit)");
  coordinator->add_option("--ready-fd", coordinator_flags.ready_fd)->group("");
  coordinator->add_option("--job-spec-fd", coordinator_flags.job_spec_fd)->group("");
  coordinator->add_option("--parent-pid", coordinator_flags.parent_pid)->group("");

  WorkerFlags worker_flags;
  CLI::App* worker = app.add_subcommand("worker", "join a job's coordinator and run a shard");
  worker->add_option("--coordinator", worker_flags.coordinator, "HOST:PORT of the coordinator")
      ->required();
  worker->add_option("--token-file", worker_flags.token_file,
                     "job token file, mode 0600 (default: RINGMASTER_TOKEN)");
  worker->add_option("--rank-hint", worker_flags.rank_hint,
                     "preferred rank (default: SLURM_PROCID, OMPI_COMM_WORLD_RANK or RANK)");
  worker->add_option("--local-rank", worker_flags.local_rank,
                     "rank among this host's workers, which picks an nccl worker's GPU (default: "
                     "LOCAL_RANK, SLURM_LOCALID or OMPI_COMM_WORLD_LOCAL_RANK, else 0)");
  worker->add_option("--host", worker_flags.host, "this machine's name in logs and errors");
  worker->add_option("--job-id", worker_flags.job_id,
                     "join only the coordinator of this job (it proves its job id with the token)");
  worker
      ->add_option("--connect-timeout-ms", worker_flags.connect_timeout_ms,
                   "how long to keep trying to reach the coordinator")
      ->capture_default_str();
  worker
      ->add_option("--abort-grace-ms", worker_flags.abort_grace_ms,
                   "how long a stopping worker waits for its shard thread")
      ->capture_default_str();
  worker->add_option("--parent-pid", worker_flags.parent_pid)->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help is success; every other parse error is the documented usage code.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  std::string role = "ringmaster";
  if (app.got_subcommand(coordinator)) role = "coordinator";
  if (app.got_subcommand(worker)) {
    role = worker_flags.rank_hint >= 0 ? "worker " + std::to_string(worker_flags.rank_hint)
                                       : "worker " + std::to_string(::getpid());
  }
  if (const Status status = configure_logging(role, log_level); !status.ok()) {
    report(status);
    return kExitUsage;
  }
  // Control connections use MSG_NOSIGNAL, but a library write to a closed pipe must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  if (app.got_subcommand(bench) && bench->got_subcommand("kernel")) {
    return report(bench::run_kernel_bench(kernel_options).status());
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("ring")) {
    return report(bench::run_ring_bench(ring_options).status());
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("model")) {
    return report(run_model_bench(model_bench_options).status());
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("decode")) {
    return report(run_decode_bench(decode_bench_options).status());
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("variants")) {
    return report(run_variants_bench(variants_bench_options));
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("sweep")) {
    return report(run_sweep(sweep_options).status());
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("report")) {
    return report(run_report(report_options));
  }
  if (app.got_subcommand(bench) && bench->got_subcommand("calibrate")) {
    return report(run_calibrate(calibrate_options).status());
  }
  if (app.got_subcommand(plan)) {
    const Status status = run_plan(plan_options).status();
    if (status.ok()) return kExitOk;
    report(status);
    return kExitUsage;
  }
  if (app.got_subcommand(init)) return report(run_init(init_options));
  if (app.got_subcommand(inspect)) return report(run_inspect(inspect_options));
  if (app.got_subcommand(run)) {
    run_options.log_level = log_level;
    return run_local(run_options);
  }
  if (app.got_subcommand(coordinator)) {
    return run_coordinator_command(coordinator_flags, *coordinator);
  }
  if (app.got_subcommand(worker)) return run_worker_command(worker_flags);
  return kExitOk;
}
