#include "launcher/job_flags.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "attention/context_parallel.h"
#include "comm/make_communicator.h"
#include "comm/partition.h"
#include "coordinator/planner.h"
#include "proto/convert.h"
#include "proto/validate.h"

namespace ringmaster::launcher {

void add_job_flags(CLI::App& app, JobFlags& f, bool required) {
  app.add_option("--workers", f.workers, "number of worker processes (P)")
      ->required(required)
      ->check(CLI::Range(1, proto::kMaxWorld));
  app.add_option("--out", f.out,
                 "output: a directory for a model job (embeddings.npy or scores.npy, "
                 "records.tsv, summary.json); a .npy file for the attention check")
      ->required(required);
  app.add_option("--model", f.model, "model directory (config.json, weights.safetensors)");
  app.add_option("--input", f.input, "input: FASTA or FASTA.gz (dna models), a text file (bytes)");
  app.add_option("--task", f.task, "model job task: embed, score, generate, variants")
      ->capture_default_str();
  app.add_option("--pool", f.pool, "embed: 'mean' writes one mean row per record");
  app.add_option("--max-new-tokens", f.max_new_tokens,
                 "generate: new tokens per record at most (required)");
  app.add_option("--temperature", f.temperature, "generate: 0 is greedy")->capture_default_str();
  app.add_option("--top-k", f.top_k, "generate: sample among the K likeliest tokens (0: all)")
      ->capture_default_str();
  app.add_flag("--ignore-eos", f.ignore_eos, "generate: never stop at <eos>");
  app.add_option("--variants", f.variants,
                 "variants: the calls to score, VCF, VCF.gz or BCF (required)");
  app.add_option("--downstream", f.downstream,
                 "variants: reference bases after REF scored with each allele (default 1024)");
  app.add_option("--context", f.context,
                 "variants: left context in bases, a window per variant (default: the whole "
                 "record)");
  app.add_flag("--rc-average", f.rc_average,
               "variants: average the forward and reverse-complement strands");
  app.add_option("--max-tokens", f.max_tokens,
                 "refuse an input of more tokens (bases or bytes) than this; 0: no cap")
      ->capture_default_str();
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
  app.add_option("--context-parallel", f.context_parallel,
                 "how global attention spreads over the workers: ring, ulysses, or hybrid "
                 "(Ulysses in groups of --ulysses-degree consecutive workers, ring across them)")
      ->capture_default_str();
  app.add_option("--ulysses-degree", f.ulysses_degree,
                 "hybrid: workers per Ulysses group U, dividing --workers and the heads (ring "
                 "degree workers / U)");
  // Hidden: the old name, so a script that still says it gets the new one in the error.
  app.add_option("--mixer", f.renamed_mixer)->group("");
  app.add_option("--seed", f.seed,
                 "attention check: seed of the Q/K/V rows (default 1); generate: sampling seed "
                 "(default 0)");
  app.add_option("--threads", f.threads, "compute threads per worker")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--device", f.device,
                 "where workers compute attention: cpu, cuda (fails without a GPU) or auto (cuda "
                 "where a worker has one)")
      ->capture_default_str();
  app.add_option("--compute-dtype", f.compute_dtype,
                 "what CPU workers' attention, projection and MLP products read: f32, or bf16 "
                 "(f32 accumulation; about 2x faster where the CPU has AVX512-BF16 or AMX)")
      ->capture_default_str();
  app.add_option("--plan-align", f.plan_align, "round chunk sizes to this many tokens")
      ->capture_default_str();
  app.add_option("--rank-weights", f.rank_weights,
                 "workers of different speeds: one relative speed per worker, w0,w1,... (each "
                 "> 0); rank r gets w_r / sum(w) of the tokens so every rank finishes together; "
                 "auto: each worker times a block's MLP when it joins (default: equal shards)")
      ->delimiter(',');
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
  app.add_option("--data-interface", f.data_interface,
                 "network interface(s) the data plane listens and connects on, as UCX_NET_DEVICES "
                 "spells them (eth0, ib0,eth1); default: all, except `run`: lo");
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

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

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

StatusOr<DType> parse_compute_dtype(const std::string& name) {
  pb::ComputeDType dtype = pb::COMPUTE_DTYPE_F32;
  if (!pb::ComputeDType_Parse("COMPUTE_DTYPE_" + upper(name), &dtype)) {
    return invalid_argument("--compute-dtype '" + name + "' is not f32 or bf16");
  }
  return dtype == pb::COMPUTE_DTYPE_BF16 ? DType::kBf16 : DType::kF32;
}

bool measured_rank_weights(const std::vector<std::string>& texts) {
  return texts.size() == 1 && texts.front() == "auto";
}

StatusOr<std::vector<double>> parse_rank_weights(const std::vector<std::string>& texts) {
  if (measured_rank_weights(texts)) {
    return invalid_argument(
        "--rank-weights auto: the speeds are measured when the workers join a job; give the "
        "weights here as numbers (w0,w1,...)");
  }
  std::vector<double> weights;
  for (const std::string& text : texts) {
    char* end = nullptr;
    const double weight = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(weight) ||
        weight <= 0) {
      return invalid_argument("--rank-weights '" + text +
                              "' is not a number > 0 (one relative speed per worker: w0,w1,...)");
    }
    weights.push_back(weight);
  }
  return weights;
}

StatusOr<pb::JobSpec> job_spec_from_flags(const JobFlags& f) {
  if (!f.renamed_mixer.empty()) {
    return invalid_argument("--mixer is now --context-parallel (--context-parallel " +
                            f.renamed_mixer + "); a block's mixer is set in config.json");
  }
  if (f.workers < 1) return invalid_argument("--workers is required (at least 1)");
  if (f.out.empty()) return invalid_argument("--out is required");
  pb::JobSpec job;
  job.set_job_id(f.job_id.empty() ? random_job_id() : f.job_id);
  job.set_world(f.workers);
  job.set_output_path(f.out);
  RM_ASSIGN_OR_RETURN(const comm::PlanKind plan, comm::parse_plan(f.plan));
  job.set_plan(proto::to_pb_plan(plan));
  job.set_plan_align(f.plan_align);
  if (measured_rank_weights(f.rank_weights)) {
    job.set_rank_weights_auto(true);
  } else {
    RM_ASSIGN_OR_RETURN(const std::vector<double> weights, parse_rank_weights(f.rank_weights));
    for (double w : weights) job.add_rank_weights(w);
  }
  RM_ASSIGN_OR_RETURN(const attention::ContextParallel how,
                      attention::parse_context_parallel(f.context_parallel));
  job.set_context_parallel(coordinator::to_pb_context_parallel(how));
  job.set_ulysses_degree(f.ulysses_degree);
  job.set_step_timeout_ms(f.step_timeout_ms);
  job.set_threads(f.threads);
  pb::ComputeDevice device = pb::COMPUTE_DEVICE_CPU;
  if (!pb::ComputeDevice_Parse("COMPUTE_DEVICE_" + upper(f.device), &device)) {
    return invalid_argument("--device '" + f.device + "' is not cpu, cuda or auto");
  }
  job.set_device(device);
  RM_ASSIGN_OR_RETURN(const DType compute, parse_compute_dtype(f.compute_dtype));
  job.set_compute_dtype(compute == DType::kBf16 ? pb::COMPUTE_DTYPE_BF16 : pb::COMPUTE_DTYPE_F32);
  job.set_result_chunk_bytes(f.chunk_bytes);
  job.set_quiet(f.quiet);

  if (!f.model.empty()) {
    if (f.input.empty()) return invalid_argument("--model needs --input");
    if (f.task != "embed" && f.task != "score" && f.task != "generate" && f.task != "variants") {
      return invalid_argument("--task '" + f.task + "' is not embed, score, generate or variants");
    }
    const bool variants = f.task == "variants";
    if (!variants && (!f.variants.empty() || f.downstream || f.context || f.rc_average)) {
      return invalid_argument(
          "--variants, --downstream, --context and --rc-average are for --task variants only");
    }
    if (variants && f.variants.empty()) {
      return invalid_argument("--task variants needs --variants FILE (VCF, VCF.gz or BCF)");
    }
    // The proto spells "unlimited" as 0, so a context of 0 bases cannot be asked for.
    if (f.context && *f.context < 1) {
      return invalid_argument("--context " + std::to_string(*f.context) +
                              ": must be at least 1 base (leave it out for the full context)");
    }
    if (!f.pool.empty() && (f.pool != "mean" || f.task != "embed")) {
      return invalid_argument("--pool takes 'mean', with --task embed only");
    }
    const bool generate = f.task == "generate";
    if (generate && f.max_new_tokens == 0) {
      return invalid_argument("--task generate needs --max-new-tokens N (N >= 1)");
    }
    if (!generate && f.seed) {
      return invalid_argument("--seed is for the attention check and --task generate");
    }
    pb::ModelJob* model = job.mutable_model();
    model->set_model_dir(f.model);
    model->set_input_path(f.input);
    model->set_task(f.task == "score" ? pb::TASK_SCORE
                    : generate        ? pb::TASK_GENERATE
                    : variants        ? pb::TASK_VARIANTS
                                      : pb::TASK_EMBED);
    model->set_variants_path(f.variants);
    model->set_downstream(variants ? f.downstream.value_or(1024) : 0);
    model->set_context(f.context.value_or(0));
    model->set_rc_average(f.rc_average);
    model->set_pool_mean(f.pool == "mean");
    model->set_max_tokens(f.max_tokens);
    // Other tasks carry them too, so that validate_job_request refuses a knob given to them.
    model->set_max_new_tokens(f.max_new_tokens);
    model->set_temperature(f.temperature);
    model->set_top_k(f.top_k);
    model->set_seed(f.seed.value_or(0));
    model->set_ignore_eos(f.ignore_eos);
    // The rest of a model job comes from the model and the input: the coordinator's planner.
  } else {
    if (!f.input.empty()) return invalid_argument("--input needs --model");
    if (!f.variants.empty() || f.downstream || f.context || f.rc_average) {
      return invalid_argument(
          "--variants, --downstream, --context and --rc-average are for --task variants (with "
          "--model)");
    }
    if (f.max_new_tokens != 0 || f.temperature != 0 || f.top_k != 0 || f.ignore_eos) {
      return invalid_argument(
          "--max-new-tokens, --temperature, --top-k and --ignore-eos are for --task generate "
          "(with --model)");
    }
    pb::CheckJob* check = job.mutable_check();
    check->set_num_tokens(f.tokens);
    check->set_n_heads(f.heads);
    check->set_n_kv_heads(f.kv_heads);
    check->set_head_dim(f.head_dim);
    check->set_causal(!f.bidirectional);
    check->set_seed(f.seed.value_or(1));
  }

  std::string backend = f.comm;
  if (backend.empty()) {
    const std::vector<std::string> built = comm::built_backends();
    backend = std::find(built.begin(), built.end(), "ucx") != built.end() ? "ucx" : "local";
  }
  RM_ASSIGN_OR_RETURN(const comm::CommSpec::Backend parsed, comm::parse_backend(backend));
  pb::CommConfig& comm = *job.mutable_comm();
  comm.set_backend(parsed == comm::CommSpec::kUcx    ? pb::COMM_BACKEND_UCX
                   : parsed == comm::CommSpec::kNccl ? pb::COMM_BACKEND_NCCL
                                                     : pb::COMM_BACKEND_LOCAL);
  comm.set_ucx_transports(f.ucx_transports);
  comm.set_ucx_keepalive_ms(f.ucx_keepalive_ms);
  comm.set_data_interface(f.data_interface);
  job.mutable_heartbeat()->set_interval_ms(f.heartbeat_ms);
  job.mutable_heartbeat()->set_dead_after_ms(f.dead_after_ms);
  job.set_join_timeout_ms(f.join_timeout_ms);
  job.set_auth_timeout_ms(f.auth_timeout_ms);
  job.set_max_restarts(f.max_restarts);
  job.set_spares(f.spares);
  RM_RETURN_IF_ERROR(proto::validate_job_request(job));
  return job;
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
