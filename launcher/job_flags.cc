#include "launcher/job_flags.h"

#include <openssl/rand.h>

#include "attention/check_job.h"
#include "comm/make_communicator.h"
#include "comm/partition.h"
#include "proto/convert.h"
#include "proto/validate.h"
#include "worker/attention_backend.h"

namespace ringmaster::launcher {

void add_job_flags(CLI::App& app, JobFlags& f) {
  app.add_option("--workers", f.workers, "number of worker processes (P)")
      ->required()
      ->check(CLI::Range(1, proto::kMaxWorld));
  app.add_option("--out", f.out,
                 "output: a directory for a model job (embeddings.npy or scores.npy, "
                 "records.tsv, summary.json); a .npy file for the attention check")
      ->required();
  app.add_option("--model", f.model, "model directory (config.json, weights.safetensors)");
  app.add_option("--input", f.input, "input: FASTA or FASTA.gz (dna models), a text file (bytes)");
  app.add_option("--task", f.task, "model job task: embed, score")->capture_default_str();
  app.add_option("--pool", f.pool, "embed: 'mean' writes one mean row per record");
  app.add_flag("--quiet", f.quiet, "no progress line");
  app.add_option("--tokens", f.tokens, "attention check: sequence length L")->capture_default_str();
  app.add_option("--heads", f.heads, "query heads H")->capture_default_str();
  app.add_option("--kv-heads", f.kv_heads, "key/value heads (divides --heads)")
      ->capture_default_str();
  app.add_option("--head-dim", f.head_dim, "head dimension D")->capture_default_str();
  auto* causal = app.add_flag("--causal", f.causal, "causal attention (the default)");
  app.add_flag("--bidirectional", f.bidirectional, "bidirectional attention")->excludes(causal);
  app.add_option("--plan", f.plan, "partition plan: contiguous, zigzag, striped")
      ->capture_default_str();
  app.add_option("--mixer", f.mixer, "distribution: ring, ulysses")->capture_default_str();
  app.add_option("--seed", f.seed, "seed of the Q/K/V rows")->capture_default_str();
  app.add_option("--threads", f.threads, "compute threads per worker")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--device", f.device,
                 "where workers compute attention: cpu, cuda (fails without a GPU) or auto (cuda "
                 "where a worker has one)")
      ->capture_default_str();
  app.add_option("--plan-align", f.plan_align, "round chunk sizes to this many tokens")
      ->capture_default_str();
  app.add_option("--step-timeout-ms", f.step_timeout_ms, "deadline of one data-plane step")
      ->capture_default_str();
  app.add_option("--chunk-bytes", f.chunk_bytes, "bytes of rows per result chunk")
      ->capture_default_str();
  app.add_option("--job-id", f.job_id, "job name in logs (default: random)");
  app.add_option("--comm", f.comm,
                 "data plane: ucx, local or nccl (GPU memory, one GPU per rank, attention check "
                 "only; when built) (default: ucx when built)");
  app.add_option("--ucx-transports", f.ucx_transports, "UCX transports, as UCX_TLS spells them");
  app.add_option("--ucx-keepalive-ms", f.ucx_keepalive_ms, "UCX keepalive interval (0: UCX's)");
  app.add_option("--heartbeat-ms", f.heartbeat_ms, "heartbeat interval")->capture_default_str();
  app.add_option("--dead-after-ms", f.dead_after_ms, "a peer silent this long is dead")
      ->capture_default_str();
  app.add_option("--join-timeout-ms", f.join_timeout_ms, "how long to wait for all workers")
      ->capture_default_str();
  app.add_option("--auth-timeout-ms", f.auth_timeout_ms,
                 "how long a connection may take to authenticate")
      ->capture_default_str();
  app.add_option("--max-restarts", f.max_restarts,
                 "recovery: restart a failed attempt this many times (0: fail-stop)")
      ->capture_default_str();
  app.add_option("--spares", f.spares,
                 "recovery: spare workers that replace lost ones (needs --max-restarts)")
      ->capture_default_str();
}

namespace {

std::string random_job_id() {
  unsigned char raw[6];
  if (RAND_bytes(raw, sizeof raw) != 1) return "job";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : raw) {
    id.push_back(kDigits[b >> 4]);
    id.push_back(kDigits[b & 0xf]);
  }
  return id;
}

}  // namespace

StatusOr<coordinator::CoordinatorOptions> coordinator_options(const JobFlags& f) {
  RM_ASSIGN_OR_RETURN(comm::PlanKind plan, comm::parse_plan(f.plan));
  RM_ASSIGN_OR_RETURN(attention::Distribution mixer, attention::parse_distribution(f.mixer));
  coordinator::CoordinatorOptions options;
  pb::JobSpec& job = options.job;
  job.set_job_id(f.job_id.empty() ? random_job_id() : f.job_id);
  job.set_world(f.workers);
  job.set_plan(proto::to_pb_plan(plan));
  job.set_plan_align(f.plan_align);
  job.set_step_timeout_ms(f.step_timeout_ms);
  job.set_threads(f.threads);
  RM_ASSIGN_OR_RETURN(const worker::ComputeDevice device, worker::parse_compute_device(f.device));
  job.set_device(device == worker::ComputeDevice::kCuda   ? pb::COMPUTE_DEVICE_CUDA
                 : device == worker::ComputeDevice::kAuto ? pb::COMPUTE_DEVICE_AUTO
                                                          : pb::COMPUTE_DEVICE_CPU);
  job.set_result_chunk_bytes(f.chunk_bytes);
  if (!f.model.empty()) {
    if (f.input.empty()) return invalid_argument("--model needs --input");
    if (f.task != "embed" && f.task != "score") {
      return invalid_argument("--task '" + f.task + "' is not embed or score");
    }
    if (!f.pool.empty() && (f.pool != "mean" || f.task != "embed")) {
      return invalid_argument("--pool takes 'mean', with --task embed only");
    }
    pb::ModelJob* model = job.mutable_model();
    model->set_model_dir(f.model);
    model->set_task(f.task == "score" ? pb::TASK_SCORE : pb::TASK_EMBED);
    model->set_pool_mean(f.pool == "mean");
    model->set_mixer(proto::to_pb_mixer(mixer));
    options.input_path = f.input;
    options.progress =
        f.quiet ? coordinator::ProgressMode::kNone : coordinator::ProgressMode::kAuto;
    // The rest of the spec comes from the model and the input; the coordinator checks it then.
  } else {
    if (!f.input.empty()) return invalid_argument("--input needs --model");
    pb::CheckJob* check = job.mutable_check();
    check->set_num_tokens(f.tokens);
    check->set_n_heads(f.heads);
    check->set_n_kv_heads(f.kv_heads);
    check->set_head_dim(f.head_dim);
    check->set_causal(!f.bidirectional);
    check->set_seed(f.seed);
    check->set_mixer(proto::to_pb_mixer(mixer));
    RM_RETURN_IF_ERROR(proto::validate_job_spec(job));
  }

  std::string backend = f.comm;
  if (backend.empty()) {
    const std::vector<std::string> built = comm::built_backends();
    backend = std::find(built.begin(), built.end(), "ucx") != built.end() ? "ucx" : "local";
  }
  RM_ASSIGN_OR_RETURN(comm::CommSpec::Backend parsed, comm::parse_backend(backend));
  options.comm.set_backend(parsed == comm::CommSpec::kUcx    ? pb::COMM_BACKEND_UCX
                           : parsed == comm::CommSpec::kNccl ? pb::COMM_BACKEND_NCCL
                                                             : pb::COMM_BACKEND_LOCAL);
  if (parsed == comm::CommSpec::kNccl && !f.model.empty()) {
    return invalid_argument(
        "--comm nccl runs the attention check only: model jobs keep their activations in host "
        "memory (use --comm ucx)");
  }
  if (parsed == comm::CommSpec::kNccl && f.device != "cuda") {
    return invalid_argument("--comm nccl moves device memory: it needs --device cuda (not '" +
                            f.device + "')");
  }
  options.comm.set_ucx_transports(f.ucx_transports);
  options.comm.set_ucx_keepalive_ms(f.ucx_keepalive_ms);
  RM_RETURN_IF_ERROR(proto::validate_comm_config(options.comm));
  if (options.comm.backend() == pb::COMM_BACKEND_LOCAL && f.workers != 1) {
    return invalid_argument("--comm local runs a single worker; " + std::to_string(f.workers) +
                            " workers need --comm ucx");
  }

  pb::HeartbeatKnobs knobs;
  knobs.set_interval_ms(f.heartbeat_ms);
  knobs.set_dead_after_ms(f.dead_after_ms);
  RM_RETURN_IF_ERROR(proto::validate_heartbeat_knobs(knobs));
  options.job_knobs.heartbeat_interval = std::chrono::milliseconds(f.heartbeat_ms);
  options.job_knobs.dead_after = std::chrono::milliseconds(f.dead_after_ms);
  options.job_knobs.join_timeout = std::chrono::milliseconds(f.join_timeout_ms);
  if (f.spares > 0 && f.max_restarts == 0) {
    return invalid_argument("--spares " + std::to_string(f.spares) +
                            " needs --max-restarts: spares only replace workers in a restart");
  }
  if (f.max_restarts > 1000 || f.spares > 1024) {
    return invalid_argument("--max-restarts " + std::to_string(f.max_restarts) + ", --spares " +
                            std::to_string(f.spares) + ": at most 1000 and 1024");
  }
  options.job_knobs.max_restarts = static_cast<int>(f.max_restarts);
  options.job_knobs.spares = static_cast<int>(f.spares);
  options.server_knobs.auth_timeout = std::chrono::milliseconds(f.auth_timeout_ms);
  options.output_path = f.out;
  return options;
}

std::vector<std::string> job_flag_args(const JobFlags& f) {
  std::vector<std::string> args = {
      "--workers",
      std::to_string(f.workers),
      "--out",
      f.out,
      "--tokens",
      std::to_string(f.tokens),
      "--heads",
      std::to_string(f.heads),
      "--kv-heads",
      std::to_string(f.kv_heads),
      "--head-dim",
      std::to_string(f.head_dim),
      f.bidirectional ? "--bidirectional" : "--causal",
      "--plan",
      f.plan,
      "--mixer",
      f.mixer,
      "--seed",
      std::to_string(f.seed),
      "--threads",
      std::to_string(f.threads),
      "--device",
      f.device,
      "--plan-align",
      std::to_string(f.plan_align),
      "--step-timeout-ms",
      std::to_string(f.step_timeout_ms),
      "--chunk-bytes",
      std::to_string(f.chunk_bytes),
      "--ucx-keepalive-ms",
      std::to_string(f.ucx_keepalive_ms),
      "--heartbeat-ms",
      std::to_string(f.heartbeat_ms),
      "--dead-after-ms",
      std::to_string(f.dead_after_ms),
      "--join-timeout-ms",
      std::to_string(f.join_timeout_ms),
      "--auth-timeout-ms",
      std::to_string(f.auth_timeout_ms),
      "--max-restarts",
      std::to_string(f.max_restarts),
      "--spares",
      std::to_string(f.spares),
  };
  if (!f.job_id.empty()) args.insert(args.end(), {"--job-id", f.job_id});
  if (!f.comm.empty()) args.insert(args.end(), {"--comm", f.comm});
  if (!f.ucx_transports.empty()) args.insert(args.end(), {"--ucx-transports", f.ucx_transports});
  if (!f.model.empty()) {
    args.insert(args.end(), {"--model", f.model, "--input", f.input, "--task", f.task});
  }
  if (!f.pool.empty()) args.insert(args.end(), {"--pool", f.pool});
  if (f.quiet) args.push_back("--quiet");
  return args;
}

StatusOr<HostPort> parse_host_port(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return invalid_argument("'" + text + "' is not HOST:PORT");
  }
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
      std::stoi(port) > 65535) {
    return invalid_argument("'" + text + "': port '" + port + "' is not 0..65535");
  }
  out.port = static_cast<uint16_t>(std::stoi(port));
  return out;
}

}  // namespace ringmaster::launcher
