#include "proto/validate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "comm/authenticated_comm.h"
#include "comm/partition.h"
#include "core/printable.h"
#include "proto/auth.h"
#include "proto/frame.h"

namespace ringmaster::proto {
namespace {

Status field_error(const char* message, const char* field, const std::string& what) {
  return invalid_argument(std::string(message) + "." + field + " " + what);
}

template <typename T>
Status check_range(const char* message, const char* field, T value, T lo, T hi) {
  if (value < lo || value > hi) {
    return field_error(message, field,
                       "= " + std::to_string(value) + " outside [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  return ok_status();
}

Status check_size(const char* message, const char* field, size_t size, size_t expected) {
  if (size != expected) {
    return field_error(
        message, field,
        "is " + std::to_string(size) + " bytes, expected " + std::to_string(expected));
  }
  return ok_status();
}

Status check_max(const char* message, const char* field, size_t size, size_t max) {
  if (size > max) {
    return field_error(message, field,
                       "is " + std::to_string(size) + " bytes, limit " + std::to_string(max));
  }
  return ok_status();
}

// A host name is logged and shown in errors, so only [A-Za-z0-9._:-] may pass (core/printable.h);
// empty means "unknown".
Status check_host(const char* message, const std::string& host) {
  RM_RETURN_IF_ERROR(check_max(message, "host", host.size(), kMaxHostBytes));
  if (!host.empty() && !is_safe_host_name(host)) {
    return field_error(message, "host",
                       "'" + printable(host, 64) +
                           "' has a character outside [A-Za-z0-9._:-]; pass --host with a plain "
                           "host name or address");
  }
  return ok_status();
}

}  // namespace

Status validate_hello(const pb::Hello& hello) {
  if (hello.protocol_version() != pb::PROTOCOL_VERSION_CURRENT) {
    return field_error("Hello", "protocol_version",
                       "= " + std::to_string(hello.protocol_version()) + ", this coordinator " +
                           "speaks " + std::to_string(pb::PROTOCOL_VERSION_CURRENT));
  }
  RM_RETURN_IF_ERROR(check_size("Hello", "client_nonce", hello.client_nonce().size(), kNonceBytes));
  RM_RETURN_IF_ERROR(check_host("Hello", hello.host()));
  return check_range<int64_t>("Hello", "pid", hello.pid(), 1, INT32_MAX);
}

Status validate_challenge(const pb::Challenge& challenge) {
  RM_RETURN_IF_ERROR(
      check_size("Challenge", "server_nonce", challenge.server_nonce().size(), kNonceBytes));
  RM_RETURN_IF_ERROR(
      check_size("Challenge", "server_proof", challenge.server_proof().size(), kProofBytes));
  return check_max("Challenge", "job_id", challenge.job_id().size(), kMaxJobIdBytes);
}

Status validate_auth_response(const pb::AuthResponse& response) {
  return check_size("AuthResponse", "client_proof", response.client_proof().size(), kProofBytes);
}

Status validate_heartbeat_knobs(const pb::HeartbeatKnobs& knobs) {
  RM_RETURN_IF_ERROR(check_range<uint32_t>("HeartbeatKnobs", "interval_ms", knobs.interval_ms(), 1,
                                           kMaxTimeoutMs));
  RM_RETURN_IF_ERROR(check_range<uint32_t>("HeartbeatKnobs", "dead_after_ms", knobs.dead_after_ms(),
                                           1, kMaxTimeoutMs));
  if (knobs.dead_after_ms() <= knobs.interval_ms()) {
    // A deadline shorter than the interval would declare every healthy peer dead.
    return field_error("HeartbeatKnobs", "dead_after_ms",
                       "= " + std::to_string(knobs.dead_after_ms()) +
                           " must exceed interval_ms = " + std::to_string(knobs.interval_ms()));
  }
  return ok_status();
}

Status validate_comm_config(const pb::CommConfig& comm) {
  if (comm.backend() != pb::COMM_BACKEND_LOCAL && comm.backend() != pb::COMM_BACKEND_UCX &&
      comm.backend() != pb::COMM_BACKEND_NCCL) {
    return field_error("CommConfig", "backend",
                       "= " + std::to_string(comm.backend()) + " is not a backend");
  }
  RM_RETURN_IF_ERROR(check_max("CommConfig", "ucx_transports", comm.ucx_transports().size(), 256));
  RM_RETURN_IF_ERROR(check_max("CommConfig", "data_interface", comm.data_interface().size(), 256));
  // It becomes UCX_NET_DEVICES: interface names ("eth0", "enp1s0f1", "mlx5_0:1"), commas between.
  for (const char c : comm.data_interface()) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == ':' || c == ',';
    if (!ok) {
      return field_error("CommConfig", "data_interface",
                         "has a character outside [A-Za-z0-9_.:,-] (byte " +
                             std::to_string(static_cast<unsigned char>(c)) + ")");
    }
  }
  return check_range<uint32_t>("CommConfig", "ucx_keepalive_ms", comm.ucx_keepalive_ms(), 0,
                               kMaxTimeoutMs);
}

// The worker allocates the MLP it times (worker/calibration.h caps it further).
Status validate_calibration(const pb::Calibration& c) {
  RM_RETURN_IF_ERROR(check_range<int64_t>("Calibration", "d_model", c.d_model(), 0, 1 << 16));
  RM_RETURN_IF_ERROR(check_range<int64_t>("Calibration", "mlp_hidden", c.mlp_hidden(), 0, 1 << 20));
  RM_RETURN_IF_ERROR(check_range<int32_t>("Calibration", "threads", c.threads(), 0, 4096));
  if (!pb::ComputeDevice_IsValid(c.device())) {
    return field_error("Calibration", "device", "is not a device");
  }
  if (!pb::ComputeDType_IsValid(c.compute_dtype())) {
    return field_error("Calibration", "compute_dtype", "is not a compute dtype");
  }
  return ok_status();
}

Status validate_welcome(const pb::Welcome& welcome) {
  RM_RETURN_IF_ERROR(check_max("Welcome", "job_id", welcome.job_id().size(), kMaxJobIdBytes));
  RM_RETURN_IF_ERROR(validate_comm_config(welcome.comm()));
  RM_RETURN_IF_ERROR(validate_calibration(welcome.calibration()));
  return validate_heartbeat_knobs(welcome.heartbeat());
}

Status validate_register(const pb::Register& reg) {
  RM_RETURN_IF_ERROR(check_host("Register", reg.host()));
  RM_RETURN_IF_ERROR(check_range<int64_t>("Register", "pid", reg.pid(), 1, INT32_MAX));
  RM_RETURN_IF_ERROR(check_range<int32_t>("Register", "rank_hint", reg.rank_hint(), -1, INT32_MAX));
  if (!std::isfinite(reg.speed()) || reg.speed() < 0 || reg.speed() > 1e15) {
    return field_error("Register", "speed", "is not a speed (finite, >= 0, rows per second)");
  }
  return check_max("Register", "comm_address", reg.comm_address().size(), kMaxCommAddressBytes);
}

Status validate_comm_address(pb::CommBackend backend, std::string_view address) {
  auto fail = [&](const std::string& what) {
    // Appended piecewise: GCC 12's -Wrestrict misfires on a chain of string operator+.
    std::string text = "(";
    text += std::to_string(address.size());
    text += " bytes) ";
    text += what;
    return field_error("Register", "comm_address", text);
  };
  switch (backend) {
    case pb::COMM_BACKEND_LOCAL:
      if (!address.empty()) return fail("must be empty for the local backend");
      return ok_status();
    case pb::COMM_BACKEND_UCX: {
      if (address.size() < kMinUcxAddressBytes) {
        return fail("is too short for a UCX worker address (at least " +
                    std::to_string(kMinUcxAddressBytes) + " bytes)");
      }
      const unsigned version = static_cast<unsigned char>(address[0]) & 0x0fu;
      if (version > 1) {
        return fail("is not a UCX worker address: header version " + std::to_string(version) +
                    " (UCX uses 0 and 1)");
      }
      return ok_status();
    }
    case pb::COMM_BACKEND_NCCL: {
      const size_t space = address.find(' ');
      const bool printable =
          std::all_of(address.begin(), address.end(), [](char c) { return c >= ' ' && c < 0x7f; });
      const std::string_view bus =
          space == std::string_view::npos ? std::string_view() : address.substr(space + 1);
      const bool bus_ok = !bus.empty() && std::all_of(bus.begin(), bus.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
      });
      if (!printable || space == 0 || !bus_ok) {
        return fail("is not \"<host> <pci bus id>\" (an NCCL worker's address)");
      }
      return ok_status();
    }
    default:
      return fail("for an unknown data-plane backend " + std::to_string(backend));
  }
}

namespace {

// Named as the flags that set them, since every JobSpec starts as a command line. The heads
// are checked where they are known: below for the check, coordinator/planner.cc for a model.
Status validate_rank_weights(const pb::JobSpec& job) {
  const std::vector<double> weights(job.rank_weights().begin(), job.rank_weights().end());
  if (!weights.empty() && static_cast<int64_t>(weights.size()) != job.world()) {
    return invalid_argument("--rank-weights has " + std::to_string(weights.size()) +
                            " weights for --workers " + std::to_string(job.world()) +
                            " (one per rank)");
  }
  return comm::check_rank_weights(weights, job.world()).with_context("--rank-weights");
}

Status validate_ulysses_degree(const pb::JobSpec& job) {
  const int32_t degree = job.ulysses_degree();
  if (job.context_parallel() != pb::CONTEXT_PARALLEL_HYBRID) {
    if (degree == 0) return ok_status();
    return invalid_argument("--ulysses-degree " + std::to_string(degree) +
                            " is for --context-parallel hybrid");
  }
  if (degree < 1) {
    return invalid_argument(
        std::string("--context-parallel hybrid needs --ulysses-degree U >= 1 dividing --workers ")
            .append(std::to_string(job.world())));
  }
  if (job.world() % degree != 0) {
    return invalid_argument("--ulysses-degree " + std::to_string(degree) +
                            " does not divide --workers " + std::to_string(job.world()) +
                            " (the ring degree is workers / ulysses degree)");
  }
  return ok_status();
}

Status validate_check_job(const pb::JobSpec& job) {
  const pb::CheckJob& check = job.check();
  RM_RETURN_IF_ERROR(
      check_range<int64_t>("CheckJob", "num_tokens", check.num_tokens(), 1, kMaxTokens));
  RM_RETURN_IF_ERROR(check_range<int64_t>("CheckJob", "n_heads", check.n_heads(), 1, kMaxHeads));
  RM_RETURN_IF_ERROR(
      check_range<int64_t>("CheckJob", "n_kv_heads", check.n_kv_heads(), 1, check.n_heads()));
  if (check.n_heads() % check.n_kv_heads() != 0) {
    return field_error("CheckJob", "n_kv_heads",
                       "= " + std::to_string(check.n_kv_heads()) +
                           " does not divide n_heads = " + std::to_string(check.n_heads()));
  }
  RM_RETURN_IF_ERROR(
      check_range<int64_t>("CheckJob", "head_dim", check.head_dim(), 1, kMaxHeadDim));
  if (job.context_parallel() == pb::CONTEXT_PARALLEL_ULYSSES &&
      (check.n_heads() % job.world() != 0 || check.n_kv_heads() % job.world() != 0)) {
    return field_error("JobSpec", "context_parallel",
                       "= ulysses needs n_heads (" + std::to_string(check.n_heads()) +
                           ") and n_kv_heads (" + std::to_string(check.n_kv_heads()) +
                           ") divisible by the number of workers (" + std::to_string(job.world()) +
                           ")");
  }
  // A degree that does not divide n_kv_heads is fine: the hybrid copies kv heads (hybrid.h).
  if (job.context_parallel() == pb::CONTEXT_PARALLEL_HYBRID &&
      check.n_heads() % job.ulysses_degree() != 0) {
    return invalid_argument("--ulysses-degree " + std::to_string(job.ulysses_degree()) +
                            " does not divide --heads " + std::to_string(check.n_heads()));
  }
  return ok_status();
}

// generate's knobs (MODEL.md "generate"), named as the flags that set them; every JobSpec starts
// as a command line. Other tasks must leave them at zero, so a knob is never silently ignored.
Status validate_generate_knobs(const pb::ModelJob& model) {
  if (model.task() != pb::TASK_GENERATE) {
    if (model.max_new_tokens() != 0 || model.temperature() != 0 || model.top_k() != 0 ||
        model.seed() != 0 || model.ignore_eos()) {
      return invalid_argument(
          "--max-new-tokens, --temperature, --top-k, --seed and --ignore-eos are for --task "
          "generate only");
    }
    return ok_status();
  }
  if (model.max_new_tokens() < 1 || model.max_new_tokens() > kMaxNewTokens) {
    return invalid_argument("--max-new-tokens " + std::to_string(model.max_new_tokens()) +
                            ": generate needs 1.." + std::to_string(kMaxNewTokens) +
                            " new tokens per record");
  }
  // Also refuses NaN, which no comparison would.
  if (!(model.temperature() >= 0) || !std::isfinite(model.temperature())) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", model.temperature());
    return invalid_argument(std::string("--temperature ") + text +
                            ": must be 0 (greedy) or a finite positive number");
  }
  if (model.top_k() < 0 || model.top_k() > INT32_MAX) {
    return invalid_argument("--top-k " + std::to_string(model.top_k()) +
                            ": must be 0 (no cut) or a positive number of tokens");
  }
  return ok_status();
}

// The variants task's knobs (MODEL.md "variants"), named as the flags that set them. Other tasks
// must leave them unset, so a knob is never silently ignored. The branches are the
// coordinator's (validate_variant_branches).
Status validate_variants_knobs(const pb::ModelJob& model) {
  if (model.task() != pb::TASK_VARIANTS) {
    if (!model.variants_path().empty() || model.downstream() != 0 || model.context() != 0 ||
        model.rc_average() || model.branches_size() != 0) {
      return invalid_argument(
          "--variants, --downstream, --context and --rc-average are for --task variants only");
    }
    return ok_status();
  }
  if (model.variants_path().empty()) {
    return invalid_argument("--task variants needs --variants FILE (VCF, VCF.gz or BCF)");
  }
  RM_RETURN_IF_ERROR(check_max("ModelJob", "variants_path", model.variants_path().size(), 4096));
  if (model.downstream() < 0 || model.downstream() > kMaxVariantSpan) {
    return invalid_argument("--downstream " + std::to_string(model.downstream()) + ": must be 0.." +
                            std::to_string(kMaxVariantSpan) + " bases");
  }
  if (model.context() < 0 || model.context() > kMaxVariantSpan) {
    return invalid_argument("--context " + std::to_string(model.context()) + ": must be 1.." +
                            std::to_string(kMaxVariantSpan) +
                            " bases (leave it out for the full context)");
  }
  return ok_status();
}

// A variants job's branches against its records (record_lengths, already checked).
Status validate_variant_branches(const pb::ModelJob& model) {
  if (model.branches_size() > kMaxBranches) {
    return field_error("ModelJob", "branches",
                       "has " + std::to_string(model.branches_size()) + " entries, at most " +
                           std::to_string(kMaxBranches));
  }
  int64_t bytes = 0;
  for (int i = 0; i < model.branches_size(); ++i) {
    const pb::Branch& branch = model.branches(i);
    const std::string which = "branches[" + std::to_string(i) + "]";
    if (branch.record() < 0 || branch.record() >= model.record_lengths_size()) {
      return field_error("ModelJob", which.c_str(),
                         ".record = " + std::to_string(branch.record()) + " outside [0, " +
                             std::to_string(model.record_lengths_size()) + ")");
    }
    const int64_t fed = model.record_lengths(branch.record());
    if (branch.base() < 1 || branch.base() > fed) {
      return field_error(
          "ModelJob", which.c_str(),
          ".base = " + std::to_string(branch.base()) + " outside [1, " + std::to_string(fed) + "]");
    }
    const auto length = static_cast<int64_t>(branch.tokens().size());
    // Positions base .. base + length - 1 fit int32, as a record's do.
    if (length < 1 || length > INT32_MAX - branch.base()) {
      return field_error("ModelJob", which.c_str(),
                         ".tokens has " + std::to_string(length) + " tokens at base " +
                             std::to_string(branch.base()));
    }
    // dna input ids: A C G T N.
    for (const char c : branch.tokens()) {
      if (static_cast<unsigned char>(c) > 4) {
        return field_error("ModelJob", which.c_str(),
                           ".tokens holds id " + std::to_string(static_cast<unsigned char>(c)) +
                               ", not a dna base (0..4)");
      }
    }
    bytes += length;
  }
  if (bytes > kMaxBranchTokens) {
    return field_error("ModelJob", "branches",
                       "hold " + std::to_string(bytes) + " tokens in all, more than " +
                           std::to_string(kMaxBranchTokens) +
                           " (every worker gets them all: use a smaller --downstream or split "
                           "the VCF)");
  }
  return ok_status();
}

// What the user asked of a model job; the coordinator's planner fills in the rest.
Status validate_model_request(const pb::ModelJob& model) {
  if (model.model_dir().empty()) return field_error("ModelJob", "model_dir", "is empty");
  RM_RETURN_IF_ERROR(check_max("ModelJob", "model_dir", model.model_dir().size(), 4096));
  if (model.input_path().empty()) return field_error("ModelJob", "input_path", "is empty");
  RM_RETURN_IF_ERROR(check_max("ModelJob", "input_path", model.input_path().size(), 4096));
  if (model.task() != pb::TASK_EMBED && model.task() != pb::TASK_SCORE &&
      model.task() != pb::TASK_GENERATE && model.task() != pb::TASK_VARIANTS) {
    return field_error("ModelJob", "task", "= " + std::to_string(model.task()) + " is not a task");
  }
  if (model.pool_mean() && model.task() != pb::TASK_EMBED) {
    return field_error("ModelJob", "pool_mean", "is set for a task other than embed");
  }
  RM_RETURN_IF_ERROR(validate_generate_knobs(model));
  RM_RETURN_IF_ERROR(validate_variants_knobs(model));
  return check_range<int64_t>("ModelJob", "max_tokens", model.max_tokens(), 0, kMaxTokens);
}

// What the planner filled in: the records, the model's width and depth.
Status validate_model_plan(const pb::ModelJob& model) {
  RM_RETURN_IF_ERROR(check_range<int64_t>("ModelJob", "d_model", model.d_model(), 1, 1 << 16));
  RM_RETURN_IF_ERROR(check_range<int32_t>("ModelJob", "num_blocks", model.num_blocks(), 1, 4096));
  if (model.record_lengths_size() == 0 || model.record_lengths_size() > kMaxRecords) {
    return field_error("ModelJob", "record_lengths",
                       "has " + std::to_string(model.record_lengths_size()) +
                           " entries, expected 1.." + std::to_string(kMaxRecords));
  }
  int64_t total = 0;
  // generate feeds up to max_new_tokens more positions after each prompt.
  const int64_t longest = INT32_MAX - model.max_new_tokens();
  for (const int64_t length : model.record_lengths()) {
    // <bos> plus at least one token; positions fit int32.
    RM_RETURN_IF_ERROR(check_range<int64_t>("ModelJob", "record_lengths", length, 2, longest));
    total += length;
    if (total > kMaxTokens) {
      return field_error("ModelJob", "record_lengths",
                         "add up to more than " + std::to_string(kMaxTokens) + " tokens");
    }
  }
  if (model.task() == pb::TASK_VARIANTS) return validate_variant_branches(model);
  return ok_status();
}

// The data plane, liveness and recovery knobs, and the rules between them and the job. These
// messages name the flags, since every JobSpec starts as a command line.
Status validate_job_knobs(const pb::JobSpec& job) {
  RM_RETURN_IF_ERROR(validate_comm_config(job.comm()));
  RM_RETURN_IF_ERROR(validate_heartbeat_knobs(job.heartbeat()));
  RM_RETURN_IF_ERROR(
      check_range<uint32_t>("JobSpec", "join_timeout_ms", job.join_timeout_ms(), 1, kMaxTimeoutMs));
  RM_RETURN_IF_ERROR(
      check_range<uint32_t>("JobSpec", "auth_timeout_ms", job.auth_timeout_ms(), 1, kMaxTimeoutMs));
  const pb::CommBackend backend = job.comm().backend();
  if (backend == pb::COMM_BACKEND_LOCAL && job.world() != 1) {
    return invalid_argument("--comm local runs a single worker; " + std::to_string(job.world()) +
                            " workers need --comm ucx");
  }
  if (backend == pb::COMM_BACKEND_NCCL && job.has_model()) {
    return invalid_argument(
        "--comm nccl runs the attention check only: model jobs keep their activations in host "
        "memory (use --comm ucx)");
  }
  if (backend == pb::COMM_BACKEND_NCCL && job.device() != pb::COMPUTE_DEVICE_CUDA) {
    return invalid_argument("--comm nccl moves device memory: it needs --device cuda (not '" +
                            compute_device_name(job.device()) + "')");
  }
  if (job.spares() > 0 && job.max_restarts() == 0) {
    return invalid_argument("--spares " + std::to_string(job.spares()) +
                            " needs --max-restarts: spares only replace workers in a restart");
  }
  if (job.max_restarts() > kMaxRestarts || job.spares() > kMaxSpares) {
    return invalid_argument("--max-restarts " + std::to_string(job.max_restarts()) + ", --spares " +
                            std::to_string(job.spares()) + ": at most " +
                            std::to_string(kMaxRestarts) + " and " + std::to_string(kMaxSpares));
  }
  return ok_status();
}

}  // namespace

std::string compute_device_name(pb::ComputeDevice device) {
  switch (device) {
    case pb::COMPUTE_DEVICE_CPU:
      return "cpu";
    case pb::COMPUTE_DEVICE_CUDA:
      return "cuda";
    case pb::COMPUTE_DEVICE_AUTO:
      return "auto";
    default:
      return std::to_string(static_cast<int>(device));
  }
}

Status validate_job_request(const pb::JobSpec& job) {
  RM_RETURN_IF_ERROR(check_max("JobSpec", "job_id", job.job_id().size(), kMaxJobIdBytes));
  RM_RETURN_IF_ERROR(check_range<int32_t>("JobSpec", "world", job.world(), 1, kMaxWorld));
  if (job.plan() != pb::PLAN_CONTIGUOUS && job.plan() != pb::PLAN_ZIGZAG &&
      job.plan() != pb::PLAN_STRIPED) {
    return field_error("JobSpec", "plan", "= " + std::to_string(job.plan()) + " is not a plan");
  }
  RM_RETURN_IF_ERROR(
      check_range<int64_t>("JobSpec", "plan_align", job.plan_align(), 1, int64_t{1} << 20));
  RM_RETURN_IF_ERROR(
      check_range<uint32_t>("JobSpec", "step_timeout_ms", job.step_timeout_ms(), 1, kMaxTimeoutMs));
  RM_RETURN_IF_ERROR(check_range<int32_t>("JobSpec", "threads", job.threads(), 1, 1024));
  if (!pb::ComputeDevice_IsValid(job.device())) {
    return field_error("JobSpec", "device",
                       "= " + std::to_string(job.device()) + " is not a compute device");
  }
  if (!pb::ComputeDType_IsValid(job.compute_dtype())) {
    return field_error("JobSpec", "compute_dtype",
                       "= " + std::to_string(job.compute_dtype()) + " is not f32 or bf16");
  }
  if (job.context_parallel() != pb::CONTEXT_PARALLEL_RING &&
      job.context_parallel() != pb::CONTEXT_PARALLEL_ULYSSES &&
      job.context_parallel() != pb::CONTEXT_PARALLEL_HYBRID) {
    return field_error(
        "JobSpec", "context_parallel",
        "= " + std::to_string(job.context_parallel()) + " is not ring, ulysses or hybrid");
  }
  RM_RETURN_IF_ERROR(validate_ulysses_degree(job));
  RM_RETURN_IF_ERROR(validate_rank_weights(job));
  if (job.max_rank_tokens() < 0) {
    return field_error("JobSpec", "max_rank_tokens",
                       "= " + std::to_string(job.max_rank_tokens()) + " is negative");
  }
  if (job.output_path().empty()) return field_error("JobSpec", "output_path", "is empty");
  RM_RETURN_IF_ERROR(check_max("JobSpec", "output_path", job.output_path().size(), 4096));
  if (job.result_chunk_bytes() < 1 || job.result_chunk_bytes() > kMaxResultChunkRowBytes) {
    return field_error("JobSpec", "result_chunk_bytes",
                       "= " + std::to_string(job.result_chunk_bytes()) + " outside [1, " +
                           std::to_string(kMaxResultChunkRowBytes) + "]");
  }
  if (job.has_check()) {
    RM_RETURN_IF_ERROR(validate_check_job(job));
  } else if (job.has_model()) {
    RM_RETURN_IF_ERROR(validate_model_request(job.model()));
  } else {
    return field_error("JobSpec", "job", "is empty (neither a check nor a model job)");
  }
  return validate_job_knobs(job);
}

Status validate_job_spec(const pb::JobSpec& job) {
  RM_RETURN_IF_ERROR(validate_job_request(job));
  if (job.has_model()) RM_RETURN_IF_ERROR(validate_model_plan(job.model()));
  // Bounded factors (heads, head_dim <= 1024, d_model <= 2^16, tokens <= 2^32) keep these
  // products in int64.
  const int64_t row_bytes = result_row_bytes(job);
  if (row_bytes > int64_t{kMaxResultChunkRowBytes}) {
    return field_error("JobSpec", "job",
                       "gives output rows of " + std::to_string(row_bytes) +
                           " bytes, more than a result chunk holds");
  }
  const int64_t output_bytes = row_bytes * result_rows(job);
  if (output_bytes > kMaxOutputBytes) {
    return field_error("JobSpec", "job",
                       "gives an output of " + std::to_string(output_bytes) + " bytes, limit " +
                           std::to_string(kMaxOutputBytes));
  }
  if (job.result_chunk_bytes() < row_bytes) {
    return field_error("JobSpec", "result_chunk_bytes",
                       "= " + std::to_string(job.result_chunk_bytes()) + " outside [" +
                           std::to_string(row_bytes) + ", " +
                           std::to_string(kMaxResultChunkRowBytes) + "]");
  }
  return ok_status();
}

Status validate_assignment(const pb::Assignment& assignment) {
  RM_RETURN_IF_ERROR(validate_job_spec(assignment.job()));
  const int world = assignment.job().world();
  if (assignment.world() != world) {
    return field_error(
        "Assignment", "world",
        "= " + std::to_string(assignment.world()) + " but the job says " + std::to_string(world));
  }
  RM_RETURN_IF_ERROR(check_range<int32_t>("Assignment", "rank", assignment.rank(), 0, world - 1));
  if (assignment.peers_size() != world) {
    return field_error("Assignment", "peers",
                       "has " + std::to_string(assignment.peers_size()) + " entries for " +
                           std::to_string(world) + " ranks");
  }
  for (int r = 0; r < world; ++r) {
    const pb::Peer& peer = assignment.peers(r);
    if (peer.rank() != r) {
      return field_error("Assignment", "peers",
                         "[" + std::to_string(r) + "].rank = " + std::to_string(peer.rank()));
    }
    RM_RETURN_IF_ERROR(check_host("Peer", peer.host()));
    RM_RETURN_IF_ERROR(
        check_max("Peer", "comm_address", peer.comm_address().size(), kMaxCommAddressBytes));
  }
  // ncclUniqueId is 128 bytes; the transport checks the exact size.
  RM_RETURN_IF_ERROR(
      check_max("Assignment", "nccl_unique_id", assignment.nccl_unique_id().size(), 128));
  return check_size("Assignment", "data_plane_nonce", assignment.data_plane_nonce().size(),
                    comm::kDataPlaneNonceBytes);
}

Status validate_result_chunk(const pb::ResultChunk& chunk, int64_t row_bytes) {
  if (chunk.generated_size() != 0) {
    return field_error("ResultChunk", "generated", "is set in a job that generates nothing");
  }
  if (chunk.branches_size() != 0) {
    return field_error("ResultChunk", "branches", "is set in a job that has no branches");
  }
  if (chunk.tokens_size() == 0 || chunk.tokens_size() > kMaxResultChunkTokens) {
    return field_error("ResultChunk", "tokens",
                       "has " + std::to_string(chunk.tokens_size()) + " entries, expected 1.." +
                           std::to_string(kMaxResultChunkTokens));
  }
  const auto expected = static_cast<size_t>(chunk.tokens_size()) * static_cast<size_t>(row_bytes);
  return check_size("ResultChunk", "rows", chunk.rows().size(), expected);
}

Status validate_variants_chunk(const pb::ResultChunk& chunk, int64_t row_bytes) {
  if (chunk.generated_size() != 0) {
    return field_error("ResultChunk", "generated", "is set in a variants job");
  }
  if (chunk.tokens_size() > kMaxResultChunkTokens ||
      chunk.branches_size() > kMaxResultChunkTokens) {
    return field_error(
        "ResultChunk", "tokens",
        "or branches has more than " + std::to_string(kMaxResultChunkTokens) + " entries");
  }
  if (chunk.tokens_size() == 0 && chunk.branches_size() == 0) {
    return field_error("ResultChunk", "tokens", "and branches are both empty");
  }
  const auto expected = static_cast<size_t>(chunk.tokens_size()) * static_cast<size_t>(row_bytes);
  return check_size("ResultChunk", "rows", chunk.rows().size(), expected);
}

Status validate_generated_chunk(const pb::ResultChunk& chunk, int64_t max_new_tokens) {
  if (chunk.tokens_size() != 0 || !chunk.rows().empty()) {
    return field_error("ResultChunk", "tokens", "or rows is set in a generate job");
  }
  if (chunk.generated_size() == 0 || chunk.generated_size() > kMaxResultChunkTokens) {
    return field_error("ResultChunk", "generated",
                       "has " + std::to_string(chunk.generated_size()) + " records, expected 1.." +
                           std::to_string(kMaxResultChunkTokens));
  }
  for (const pb::GeneratedRecord& record : chunk.generated()) {
    const std::string which = "generated[record " + std::to_string(record.record()) + "]";
    if (record.tokens_size() > max_new_tokens) {
      return field_error(
          "ResultChunk", which.c_str(),
          "has " + std::to_string(record.tokens_size()) +
              " tokens, more than max_new_tokens = " + std::to_string(max_new_tokens));
    }
    if (!std::isfinite(record.log_likelihood())) {
      return field_error("ResultChunk", which.c_str(), "has a non-finite log_likelihood");
    }
  }
  return ok_status();
}

Status validate_error(const pb::Error& error) {
  RM_RETURN_IF_ERROR(check_host("Error", error.host()));
  RM_RETURN_IF_ERROR(check_max("Error", "message", error.message().size(), kMaxErrorMessageBytes));
  return check_range<int32_t>("Error", "rank", error.rank(), -1, kMaxWorld - 1);
}

int64_t result_row_bytes(const pb::JobSpec& job) {
  constexpr auto kF32 = static_cast<int64_t>(sizeof(float));
  if (job.has_model()) {
    switch (job.model().task()) {
      case pb::TASK_SCORE:
      case pb::TASK_VARIANTS:  // its score rows; branches travel apart
        return kF32;
      case pb::TASK_GENERATE:
        return job.model().max_new_tokens() * int64_t{sizeof(int32_t)};
      default:
        return job.model().d_model() * kF32;
    }
  }
  return job.check().n_heads() * job.check().head_dim() * kF32;
}

int64_t result_rows(const pb::JobSpec& job) {
  if (!job.has_model()) return job.check().num_tokens();
  if (job.model().task() == pb::TASK_GENERATE) return job.model().record_lengths_size();
  int64_t input_tokens = 0;
  for (const int64_t length : job.model().record_lengths()) input_tokens += length - 1;
  return input_tokens;
}

}  // namespace ringmaster::proto
