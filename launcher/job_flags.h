// launcher/job_flags.h: the flag table of a job, shared by `ringmaster run` and `ringmaster
// coordinator`, and the one function that turns it into the JobSpec (proto/ringmaster.proto).
//
// A job is described once: flags -> job_spec_from_flags -> JobSpec, checked there by
// proto::validate_job_request, and from then on only the JobSpec travels (`run` hands it to its
// coordinator child serialized: launcher/spec_handoff.h). A new knob touches the table below,
// the proto field, the validator and the code that uses it.
//
// Defaults are the production values of RELIABILITY.md's table (heartbeat 1 s, dead after 5 s,
// join timeout 120 s); tests pass shorter ones. Also: HOST:PORT parsing. Thread-compatible.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::launcher {

// A model job when --model is given (MODEL.md "Tasks and their outputs"), else the attention
// check (--tokens, --heads, ... describe it).
struct JobFlags {
  int workers = 0;    // required
  std::string model;  // model directory
  std::string input;  // FASTA (dna models) or text (bytes models)
  std::string task = "embed";
  std::string pool;  // "" or "mean"
  // generate (MODEL.md "generate"); each is refused with another task.
  int64_t max_new_tokens = 0;  // required with generate (>= 1)
  double temperature = 0;      // 0: greedy
  int64_t top_k = 0;           // 0: no cut
  bool ignore_eos = false;
  // variants (MODEL.md "variants"); each is refused with another task.
  std::string variants;               // VCF, VCF.gz or BCF; required with variants
  std::optional<int64_t> downstream;  // D bases after REF (default 1024)
  std::optional<int64_t> context;     // C bases of left context (default: unlimited)
  bool rc_average = false;            // average with the reverse-complement strand
  int64_t max_tokens = 0;             // refuse longer inputs; 0: no cap
  bool quiet = false;                 // no progress line
  int64_t tokens = 4096;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 64;
  bool causal = false;         // --causal: the default, accepted so scripts can say it
  bool bidirectional = false;  // --bidirectional
  std::string plan = "zigzag";
  std::string context_parallel = "ring";
  int ulysses_degree = 0;     // --context-parallel hybrid only (required there)
  std::string renamed_mixer;  // the old --mixer, kept only to say its new name
  // The attention check's Q/K/V seed (default 1), or generate's sampling seed (default 0).
  std::optional<uint64_t> seed;
  int threads = 1;
  std::string device = "cpu";         // where workers compute attention: cpu, cuda, auto
  std::string compute_dtype = "f32";  // what CPU workers' products read: f32, bf16
  int64_t plan_align = 1;
  // --rank-weights w0,w1,...: one relative speed per worker (shards sized to finish together);
  // "auto": speeds measured as the workers join (JobSpec.rank_weights_auto); empty: equal shards.
  std::vector<std::string> rank_weights;
  uint32_t step_timeout_ms = 60000;
  uint32_t chunk_bytes = 4u << 20;
  std::string out;
  std::string job_id;  // empty: random
  std::string comm;    // "ucx", "local" or "nccl"; empty: ucx when built, else local
  std::string ucx_transports;
  uint32_t ucx_keepalive_ms = 0;
  // The interfaces the data plane listens on (UCX_NET_DEVICES); empty: all of them, except that
  // `ringmaster run` uses "lo" (launcher/local_run.cc).
  std::string data_interface;
  uint32_t heartbeat_ms = 1000;
  uint32_t dead_after_ms = 5000;
  uint32_t join_timeout_ms = 120000;
  uint32_t auth_timeout_ms = 10000;
  // Recovery (opt-in): restart a failed attempt up to max_restarts times, a spare taking the
  // rank of a lost worker; `ringmaster run` starts `spares` extra workers.
  uint32_t max_restarts = 0;
  uint32_t spares = 0;
};

// Adds the job flags (--workers, --tokens, ..., --out) and knobs to `app`. With `required`,
// CLI11 insists on --workers and --out; `ringmaster coordinator` may take a serialized spec
// instead, so it leaves that to job_spec_from_flags.
void add_job_flags(CLI::App& app, JobFlags& flags, bool required = true);

// The job these flags describe, validated (proto::validate_job_request): a random job id when
// none is given, the data plane ucx when built (else local). kInvalidArgument naming the flag
// that is wrong (a missing --workers, an unknown plan, an impossible head split, --mixer).
StatusOr<pb::JobSpec> job_spec_from_flags(const JobFlags& flags);

// --rank-weights' entries as numbers: kInvalidArgument naming an entry that is not a whole
// finite number > 0. (The count is checked against --workers with the job.)
// kInvalidArgument for "auto" too (only a job measures speeds: measured_rank_weights).
StatusOr<std::vector<double>> parse_rank_weights(const std::vector<std::string>& texts);
// --compute-dtype (run, coordinator, plan): f32 or bf16, any case; kInvalidArgument naming the
// value otherwise.
StatusOr<DType> parse_compute_dtype(const std::string& name);
// Whether --rank-weights is "auto".
bool measured_rank_weights(const std::vector<std::string>& texts);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// "host:port", "1.2.3.4:0" or "[::1]:5000". kInvalidArgument otherwise.
StatusOr<HostPort> parse_host_port(const std::string& text);

}  // namespace ringmaster::launcher
