// proto/validate.h: semantic checks of messages from a peer, after they parsed.
//
// Parsing (frame.h) only proves the bytes are a well-formed message. These checks prove the
// values make sense before anyone indexes, allocates or loops with them (RELIABILITY.md 3.9):
// sizes of nonces and proofs, lengths of strings, ranks inside the world, a job spec whose
// products do not overflow and whose output fits the limits below. Errors are kInvalidArgument
// naming the message and field. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::proto {

inline constexpr int kMaxWorld = 1024;
inline constexpr size_t kMaxHostBytes = 255;
inline constexpr size_t kMaxJobIdBytes = 128;
inline constexpr size_t kMaxCommAddressBytes = 60u << 10;  // fits a Register frame
inline constexpr size_t kMaxErrorMessageBytes = 16u << 10;
inline constexpr int64_t kMaxTokens = int64_t{1} << 32;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxHeadDim = 1024;
inline constexpr int kMaxRecords = 1 << 24;
// The coordinator holds the whole output in memory while it assembles (ResultAssembler).
inline constexpr int64_t kMaxOutputBytes = int64_t{64} << 30;
inline constexpr uint32_t kMaxTimeoutMs = 24u * 3600u * 1000u;
inline constexpr uint32_t kMaxRestarts = 1000;
inline constexpr uint32_t kMaxSpares = 1024;
// generate: tokens per record. A record's continuation travels whole in one ResultChunk, so
// max_new_tokens int32 ids (result_row_bytes) must fit the default chunk (4 MiB).
inline constexpr int64_t kMaxNewTokens = int64_t{1} << 20;
// variants: --downstream and --context in bases. Branches travel in the JobSpec to every worker
// (inside its Assignment, at most kMaxAssignmentBytes), so their count and tokens are capped.
inline constexpr int64_t kMaxVariantSpan = int64_t{1} << 30;
inline constexpr int kMaxBranches = 1 << 22;
inline constexpr int64_t kMaxBranchTokens = int64_t{64} << 20;

// Host names (Hello, Register, Peer, Error) may be empty or hold only [A-Za-z0-9._:-]
// (core/printable.h is_safe_host_name), so they are safe to log.
Status validate_hello(const pb::Hello& hello);
Status validate_challenge(const pb::Challenge& challenge);
Status validate_auth_response(const pb::AuthResponse& response);
Status validate_heartbeat_knobs(const pb::HeartbeatKnobs& knobs);
Status validate_comm_config(const pb::CommConfig& comm);
Status validate_welcome(const pb::Welcome& welcome);
Status validate_register(const pb::Register& reg);
// A worker's data-plane address, checked before it reaches the transport (UCX unpacks an
// address without its length, so a short or foreign blob would be read past its end):
//   local: empty (a world of one has no peers);
//   UCX:   a ucp worker address: at least kMinUcxAddressBytes (a header byte, the 8-byte worker
//          uuid, a device byte), the header's low nibble a format version UCX has used (0 or 1:
//          every release through 1.19, UCX_ADDRESS_VERSION=v1 or v2);
//   NCCL:  "<host> <pci bus id>" (comm/nccl/nccl_comm.h): printable, one space, a bus id of hex
//          digits, ':' and '.'.
// The size limit is validate_register's. Errors: kInvalidArgument "Register.comm_address ...".
inline constexpr size_t kMinUcxAddressBytes = 10;
Status validate_comm_address(pb::CommBackend backend, std::string_view address);
// A job as its command line describes it (the one validator of every flag, called by each entry
// point: `ringmaster run`, `ringmaster coordinator`, run_coordinator): every field in range, the
// check job's head split, the data plane, liveness and recovery rules. Model jobs need only what
// the user gives (model_dir, input_path, task, pool, max_tokens, generate's knobs: set for
// generate only, max_new_tokens >= 1, temperature and top_k >= 0; variants' knobs: set for
// variants only, a variants file, downstream and context >= 0); the planner adds the rest.
Status validate_job_request(const pb::JobSpec& job);
// A complete job, as workers receive it: validate_job_request, a model job's records, width and
// depth, a variants job's branches (each on a record, 1 <= base <= its fed length, 1+ dna ids;
// count and tokens capped), and output rows and total size within the limits.
Status validate_job_spec(const pb::JobSpec& job);
// "cpu", "cuda", "auto" (the --device spelling), or the number of an unknown value.
std::string compute_device_name(pb::ComputeDevice device);
// The spec (as above) plus rank < world and a peer table of exactly `world` entries, in order.
Status validate_assignment(const pb::Assignment& assignment);
// Shape only: tokens count and rows bytes agree for rows of `row_bytes`, and no generated records
// or branch results.
// Ownership of the tokens is the ResultAssembler's check, which knows the plan.
Status validate_result_chunk(const pb::ResultChunk& chunk, int64_t row_bytes);
// Shape only, for a variants job: up to kMaxResultChunkTokens score rows (row_bytes each, as
// validate_result_chunk) and branch results, at least one of either, no generated records. The
// branches' indices, owners and values are the coordinator's checks (branch_results.h).
Status validate_variants_chunk(const pb::ResultChunk& chunk, int64_t row_bytes);
// Shape only, for a generate job: 1..kMaxResultChunkTokens records and no rows; each record at
// most `max_new_tokens` long with a finite log-likelihood. The record index, its owner, the ids
// and the stop are the coordinator's checks (coordinator/generated_records.h).
Status validate_generated_chunk(const pb::ResultChunk& chunk, int64_t max_new_tokens);
Status validate_error(const pb::Error& error);

// Bytes of one result row the workers send: n_heads * head_dim f32 values (check job), d_model
// (embed) or 1 (score); generate: a record's continuation at its longest, max_new_tokens int32
// ids. REQUIRES: validate_job_spec(job) is OK.
int64_t result_row_bytes(const pb::JobSpec& job);
// Rows the workers send in all: tokens (check job), input tokens t1..tn of every record (embed,
// score; with pool_mean the coordinator averages them per record), or records (generate).
// REQUIRES: as above.
int64_t result_rows(const pb::JobSpec& job);

}  // namespace ringmaster::proto
