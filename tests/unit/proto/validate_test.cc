#include "proto/validate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "comm/authenticated_comm.h"
#include "comm/make_communicator.h"
#include "proto/auth.h"
#include "proto/convert.h"
#include "tests/testing/job_specs.h"

namespace ringmaster::proto {
namespace {

pb::JobSpec good_job() {
  pb::JobSpec job = ringmaster::testing::check_job_spec(4, 4096);
  job.set_plan(pb::PLAN_ZIGZAG);
  job.mutable_check()->set_n_heads(8);
  job.mutable_check()->set_n_kv_heads(4);
  job.mutable_check()->set_head_dim(64);
  return job;
}

TEST(ValidateJobSpec, AcceptsAGoodSpec) {
  EXPECT_TRUE(validate_job_spec(good_job()).ok());
  StatusOr<comm::PartitionPlan> plan = to_partition_plan(good_job());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->world(), 4);
}

TEST(ValidateJobSpec, NamesTheBadField) {
  auto expect_bad = [](pb::JobSpec job, const std::string& field) {
    Status status = validate_job_spec(job);
    ASSERT_FALSE(status.ok()) << field;
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  };
  pb::JobSpec job = good_job();
  job.set_world(0);
  expect_bad(job, "world");
  job = good_job();
  job.mutable_check()->set_n_kv_heads(3);
  expect_bad(job, "n_kv_heads");
  job = good_job();
  job.mutable_check()->set_num_tokens(-5);
  expect_bad(job, "num_tokens");
  job = good_job();
  job.set_compute_dtype(static_cast<pb::ComputeDType>(7));
  expect_bad(job, "compute_dtype");
  job = good_job();
  job.set_plan(static_cast<pb::Plan>(42));
  expect_bad(job, "plan");
  job = good_job();
  job.set_max_rank_tokens(-1);
  expect_bad(job, "max_rank_tokens");
  job = good_job();
  job.set_context_parallel(pb::CONTEXT_PARALLEL_ULYSSES);
  job.set_world(3);
  expect_bad(job, "ulysses");
  job = good_job();
  job.set_world(4);
  job.set_context_parallel(pb::CONTEXT_PARALLEL_HYBRID);
  expect_bad(job, "--context-parallel hybrid needs --ulysses-degree");
  job.set_ulysses_degree(3);
  expect_bad(job, "--ulysses-degree 3 does not divide --workers 4");
  job.set_ulysses_degree(2);
  EXPECT_TRUE(validate_job_spec(job).ok()) << validate_job_spec(job).to_string();
  job.set_context_parallel(pb::CONTEXT_PARALLEL_RING);
  expect_bad(job, "--ulysses-degree 2 is for --context-parallel hybrid");
  job = good_job();
  job.set_result_chunk_bytes(16);
  expect_bad(job, "result_chunk_bytes");
  job = good_job();
  job.mutable_check()->set_num_tokens(int64_t{1} << 32);
  job.mutable_check()->set_head_dim(1024);
  expect_bad(job, "output");
  job = good_job();
  job.clear_check();
  expect_bad(job, "neither a check nor a model job");
  job = good_job();
  job.set_device(static_cast<pb::ComputeDevice>(7));
  expect_bad(job, "device");
}

pb::JobSpec good_model_job() {
  pb::JobSpec job = good_job();
  pb::ModelJob* model = job.mutable_model();  // replaces the check job (oneof)
  model->set_model_dir("/models/demo");
  model->set_input_path("/data/genome.fa");
  model->set_task(pb::TASK_SCORE);
  model->set_d_model(128);
  model->set_num_blocks(6);
  for (int64_t length : {1001, 2, 40}) model->add_record_lengths(length);
  return job;
}

TEST(ValidateJobSpec, ModelJobRowsAndPlanFollowTheRecords) {
  const pb::JobSpec job = good_model_job();
  ASSERT_TRUE(validate_job_spec(job).ok()) << validate_job_spec(job).to_string();
  EXPECT_EQ(result_rows(job), 1000 + 1 + 39);  // input tokens: <bos> excluded
  EXPECT_EQ(result_row_bytes(job), 4);         // one score per row
  pb::JobSpec embed = job;
  embed.mutable_model()->set_task(pb::TASK_EMBED);
  EXPECT_EQ(result_row_bytes(embed), 128 * 4);
  StatusOr<comm::PartitionPlan> plan = to_partition_plan(job);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->num_tokens(), 1043);
}

TEST(ValidateJobSpec, ModelJobNamesTheBadField) {
  auto expect_bad = [](pb::JobSpec job, const std::string& field) {
    Status status = validate_job_spec(job);
    ASSERT_FALSE(status.ok()) << field;
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  };
  pb::JobSpec job = good_model_job();
  job.mutable_model()->set_record_lengths(1, 1);  // <bos> alone: a record with no sequence
  expect_bad(job, "record_lengths");
  job = good_model_job();
  job.mutable_model()->clear_record_lengths();
  expect_bad(job, "record_lengths");
  job = good_model_job();
  job.mutable_model()->set_pool_mean(true);  // with score
  expect_bad(job, "pool_mean");
  job = good_model_job();
  job.mutable_model()->set_model_dir("");
  expect_bad(job, "model_dir");
  job = good_model_job();
  job.mutable_model()->set_task(pb::TASK_UNSPECIFIED);
  expect_bad(job, "task");
  job = good_model_job();
  job.mutable_model()->set_d_model(0);
  expect_bad(job, "d_model");
}

// A model job as its flags describe it: valid as a request before the planner has filled in the
// records, width and depth, and not yet a spec a worker may run.
TEST(ValidateJobRequest, ModelJobIsCompleteOnlyAfterPlanning) {
  pb::JobSpec job = good_model_job();
  job.mutable_model()->clear_record_lengths();
  job.mutable_model()->clear_d_model();
  job.mutable_model()->clear_num_blocks();
  EXPECT_TRUE(validate_job_request(job).ok()) << validate_job_request(job).to_string();
  EXPECT_FALSE(validate_job_spec(job).ok());
  job.mutable_model()->set_input_path("");
  EXPECT_NE(validate_job_request(job).message().find("input_path"), std::string::npos);
  job = good_model_job();
  job.mutable_model()->set_max_tokens(-1);
  EXPECT_NE(validate_job_request(job).message().find("max_tokens"), std::string::npos);
}

pb::JobSpec good_generate_job() {
  pb::JobSpec job = good_model_job();
  job.mutable_model()->set_task(pb::TASK_GENERATE);
  job.mutable_model()->set_max_new_tokens(100);
  job.mutable_model()->set_temperature(0.8);
  job.mutable_model()->set_top_k(3);
  job.mutable_model()->set_seed(7);
  return job;
}

// One row per record, as long as the longest continuation (max_new_tokens int32 ids).
TEST(ValidateJobSpec, GenerateRowsAreRecords) {
  const pb::JobSpec job = good_generate_job();
  ASSERT_TRUE(validate_job_spec(job).ok()) << validate_job_spec(job).to_string();
  EXPECT_EQ(result_rows(job), 3);
  EXPECT_EQ(result_row_bytes(job), 400);
  pb::JobSpec small_chunks = job;
  small_chunks.set_result_chunk_bytes(399);  // a record would not fit one chunk
  EXPECT_NE(validate_job_spec(small_chunks).message().find("result_chunk_bytes"),
            std::string::npos);
  pb::JobSpec long_prompt = job;  // positions of the prompt and its continuation fit int32
  long_prompt.mutable_model()->set_record_lengths(0, INT32_MAX - 99);
  EXPECT_NE(validate_job_spec(long_prompt).message().find("record_lengths"), std::string::npos);
  long_prompt.mutable_model()->set_record_lengths(0, INT32_MAX - 100);
  EXPECT_TRUE(validate_job_spec(long_prompt).ok()) << validate_job_spec(long_prompt).to_string();
}

// generate's knobs are refused out of range, and with any other task, naming the flags.
TEST(ValidateJobRequest, GenerateKnobsNameTheFlags) {
  auto refused = [](pb::JobSpec job, const std::string& words) {
    const Status status = validate_job_request(job);
    ASSERT_FALSE(status.ok()) << words;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(words), std::string::npos) << status.message();
  };
  EXPECT_TRUE(validate_job_request(good_generate_job()).ok());
  pb::JobSpec job = good_generate_job();
  job.mutable_model()->set_max_new_tokens(0);
  refused(job, "--max-new-tokens 0");
  job.mutable_model()->set_max_new_tokens(kMaxNewTokens + 1);
  refused(job, "--max-new-tokens");
  job = good_generate_job();
  job.mutable_model()->set_temperature(-0.5);
  refused(job, "--temperature");
  job.mutable_model()->set_temperature(std::numeric_limits<double>::quiet_NaN());
  refused(job, "--temperature");
  job.mutable_model()->set_temperature(std::numeric_limits<double>::infinity());
  refused(job, "--temperature");
  job = good_generate_job();
  job.mutable_model()->set_top_k(-1);
  refused(job, "--top-k -1");
  job = good_generate_job();
  job.mutable_model()->set_pool_mean(true);
  refused(job, "pool_mean");
  for (const pb::Task task : {pb::TASK_EMBED, pb::TASK_SCORE}) {
    job = good_model_job();
    job.mutable_model()->set_task(task);
    job.mutable_model()->set_max_new_tokens(5);
    refused(job, "for --task generate only");
    job = good_model_job();
    job.mutable_model()->set_task(task);
    job.mutable_model()->set_seed(3);
    refused(job, "for --task generate only");
    job = good_model_job();
    job.mutable_model()->set_task(task);
    job.mutable_model()->set_ignore_eos(true);
    refused(job, "for --task generate only");
  }
}

// The rules between knobs speak in flags, since every JobSpec starts as a command line.
TEST(ValidateJobRequest, RulesBetweenKnobsNameTheFlags) {
  auto expect_bad = [](const pb::JobSpec& job, const std::string& words) {
    const Status status = validate_job_request(job);
    ASSERT_FALSE(status.ok()) << words;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(words), std::string::npos) << status.message();
  };
  pb::JobSpec job = good_job();
  job.mutable_comm()->set_backend(pb::COMM_BACKEND_LOCAL);
  expect_bad(job, "--comm local runs a single worker");
  job.set_world(1);
  EXPECT_TRUE(validate_job_request(job).ok());
  job = good_job();
  job.mutable_comm()->set_backend(pb::COMM_BACKEND_NCCL);
  expect_bad(job, "it needs --device cuda (not 'cpu')");
  job.set_device(pb::COMPUTE_DEVICE_CUDA);
  EXPECT_TRUE(validate_job_request(job).ok());
  job = good_model_job();
  job.mutable_comm()->set_backend(pb::COMM_BACKEND_NCCL);
  job.set_device(pb::COMPUTE_DEVICE_CUDA);
  expect_bad(job, "--comm nccl runs the attention check only");
  job = good_job();
  job.set_compute_dtype(pb::COMPUTE_DTYPE_BF16);
  EXPECT_TRUE(validate_job_request(job).ok());
  job.set_device(pb::COMPUTE_DEVICE_CUDA);  // bf16 MLPs on the GPU
  EXPECT_TRUE(validate_job_request(job).ok());
  job = good_job();
  job.set_spares(1);
  expect_bad(job, "--spares 1 needs --max-restarts");
  job.set_max_restarts(1001);
  expect_bad(job, "at most 1000");
  job = good_job();
  job.mutable_heartbeat()->set_dead_after_ms(500);
  expect_bad(job, "dead_after_ms");
  job = good_job();
  job.set_context_parallel(pb::CONTEXT_PARALLEL_UNSPECIFIED);
  expect_bad(job, "context_parallel");
  job = good_job();
  job.clear_output_path();
  expect_bad(job, "output_path");
  job = good_job();
  job.set_join_timeout_ms(0);
  expect_bad(job, "join_timeout_ms");
}

// --data-interface becomes UCX_NET_DEVICES: interface names only, nothing UCX would parse as
// more (RELIABILITY.md S9).
TEST(ValidateCommConfig, DataInterfaceIsInterfaceNames) {
  pb::CommConfig comm;
  comm.set_backend(pb::COMM_BACKEND_UCX);
  for (const char* good : {"", "lo", "eth0", "enp1s0f1,ib0", "mlx5_0:1"}) {
    comm.set_data_interface(good);
    EXPECT_TRUE(validate_comm_config(comm).ok()) << good;
  }
  for (const char* bad : {"eth0 lo", "lo;rm", "eth0\n", "../x"}) {
    comm.set_data_interface(bad);
    EXPECT_FALSE(validate_comm_config(comm).ok()) << bad;
  }
  comm.set_data_interface(std::string(257, 'a'));
  EXPECT_FALSE(validate_comm_config(comm).ok());
}

TEST(ValidateAssignment, PeerTableMustMatchTheWorld) {
  pb::Assignment a;
  *a.mutable_job() = good_job();
  a.set_world(4);
  a.set_rank(2);
  for (int r = 0; r < 4; ++r) a.add_peers()->set_rank(r);
  a.set_data_plane_nonce(std::string(comm::kDataPlaneNonceBytes, 'n'));
  EXPECT_TRUE(validate_assignment(a).ok());
  a.set_data_plane_nonce("short");
  EXPECT_FALSE(validate_assignment(a).ok());
  a.set_data_plane_nonce(std::string(comm::kDataPlaneNonceBytes, 'n'));
  a.set_rank(4);
  EXPECT_FALSE(validate_assignment(a).ok());
  a.set_rank(1);
  a.mutable_peers(3)->set_rank(0);
  EXPECT_FALSE(validate_assignment(a).ok());
  a.mutable_peers(3)->set_rank(3);
  a.add_peers()->set_rank(4);
  EXPECT_FALSE(validate_assignment(a).ok());
}

// A worker's comm_address is checked for the job's backend before any transport sees it; the
// addresses real bootstraps make pass.
TEST(ValidateCommAddress, ChecksTheShapeForTheBackend) {
  auto message = [](pb::CommBackend backend, std::string_view address) {
    return validate_comm_address(backend, address).message();
  };
  EXPECT_TRUE(validate_comm_address(pb::COMM_BACKEND_LOCAL, "").ok());
  EXPECT_EQ(message(pb::COMM_BACKEND_LOCAL, "x"),
            "Register.comm_address (1 bytes) must be empty for the local backend");

  const std::string ucx_like = std::string("\x20", 1) + std::string(20, '\x01');
  EXPECT_TRUE(validate_comm_address(pb::COMM_BACKEND_UCX, ucx_like).ok());
  EXPECT_EQ(message(pb::COMM_BACKEND_UCX, ""),
            "Register.comm_address (0 bytes) is too short for a UCX worker address (at least 10 "
            "bytes)");
  EXPECT_EQ(validate_comm_address(pb::COMM_BACKEND_UCX, "addr").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(message(pb::COMM_BACKEND_UCX, "GET / HTTP/1.1\r\n"),
            "Register.comm_address (16 bytes) is not a UCX worker address: header version 7 (UCX "
            "uses 0 and 1)");

  EXPECT_TRUE(validate_comm_address(pb::COMM_BACKEND_NCCL, "node-7 0000:3b:00.0").ok());
  for (const char* bad : {"", "node-7", " 0000:3b:00.0", "node-7 ", "node 7 0000:3b:00.0",
                          "node-7 0000:3b:00.0\n", "node\x1b[2J 0000:3b:00.0"}) {
    EXPECT_NE(message(pb::COMM_BACKEND_NCCL, bad)
                  .find("is not \"<host> <pci bus id>\" (an NCCL worker's address)"),
              std::string::npos)
        << bad;
  }
  EXPECT_FALSE(validate_comm_address(pb::COMM_BACKEND_UNSPECIFIED, "").ok());

  // What the bootstraps of this build really send.
  for (const std::string& name : comm::built_backends()) {
    if (name == "nccl") continue;  // needs a GPU to make an address
    const auto backend = comm::parse_backend(name);
    ASSERT_TRUE(backend.ok());
    comm::CommSpec spec;
    spec.backend = *backend;
    auto boot = comm::make_bootstrap(spec);
    ASSERT_TRUE(boot.ok()) << boot.status().to_string();
    const std::vector<std::byte> address = (*boot)->address();
    const std::string_view bytes(reinterpret_cast<const char*>(address.data()), address.size());
    EXPECT_TRUE(
        validate_comm_address(name == "ucx" ? pb::COMM_BACKEND_UCX : pb::COMM_BACKEND_LOCAL, bytes)
            .ok())
        << name;
  }
}

TEST(ValidateResultChunk, RowsMustMatchTokens) {
  pb::ResultChunk chunk;
  chunk.add_tokens(1);
  chunk.add_tokens(2);
  chunk.set_rows(std::string(2 * 16, '\0'));
  EXPECT_TRUE(validate_result_chunk(chunk, 16).ok());
  chunk.set_rows(std::string(31, '\0'));
  EXPECT_FALSE(validate_result_chunk(chunk, 16).ok());
  chunk.clear_tokens();
  chunk.set_rows("");
  EXPECT_FALSE(validate_result_chunk(chunk, 16).ok());
}

// A row chunk carries no records, a generate chunk no rows, and a record is never longer than
// max_new_tokens or of a non-finite likelihood.
TEST(ValidateResultChunk, GeneratedRecordsTravelAlone) {
  pb::ResultChunk rows;
  rows.add_tokens(1);
  rows.set_rows(std::string(16, '\0'));
  rows.add_generated()->set_record(0);
  EXPECT_FALSE(validate_result_chunk(rows, 16).ok());
  pb::ResultChunk chunk;
  pb::GeneratedRecord* record = chunk.add_generated();
  record->set_record(2);
  for (int i = 0; i < 4; ++i) record->add_tokens(1);
  record->set_log_likelihood(-3.5);
  EXPECT_TRUE(validate_generated_chunk(chunk, 4).ok());
  EXPECT_NE(validate_generated_chunk(chunk, 3).message().find("4 tokens, more than"),
            std::string::npos);
  record->set_log_likelihood(std::numeric_limits<double>::quiet_NaN());
  EXPECT_FALSE(validate_generated_chunk(chunk, 4).ok());
  record->set_log_likelihood(-std::numeric_limits<double>::infinity());
  EXPECT_FALSE(validate_generated_chunk(chunk, 4).ok());
  record->set_log_likelihood(-1);
  chunk.add_tokens(0);
  EXPECT_FALSE(validate_generated_chunk(chunk, 4).ok());
  EXPECT_FALSE(validate_generated_chunk(pb::ResultChunk(), 4).ok());  // no records at all
}

TEST(ValidateHeartbeat, DeadlineMustExceedInterval) {
  pb::HeartbeatKnobs knobs;
  knobs.set_interval_ms(200);
  knobs.set_dead_after_ms(1000);
  EXPECT_TRUE(validate_heartbeat_knobs(knobs).ok());
  knobs.set_dead_after_ms(200);
  EXPECT_FALSE(validate_heartbeat_knobs(knobs).ok());
  knobs.set_interval_ms(0);
  EXPECT_FALSE(validate_heartbeat_knobs(knobs).ok());
}

TEST(ErrorConversion, RoundTripsCodeAndNamesTheSender) {
  const Status original = unavailable("peer 3 went away");
  pb::Error error = to_pb_error(original, 2, "node9", 777);
  EXPECT_TRUE(validate_error(error).ok());
  Status back = from_pb_error(error);
  EXPECT_EQ(back.code(), StatusCode::kUnavailable);
  EXPECT_NE(back.message().find("rank 2 (node9 pid 777)"), std::string::npos);
  EXPECT_NE(back.message().find("peer 3 went away"), std::string::npos);
}

// A forged log line or terminal escape in a host name is refused at the handshake and at Register.
TEST(ValidateHostNames, OnlyASafeCharacterSetPasses) {
  pb::Hello hello;
  hello.set_protocol_version(pb::PROTOCOL_VERSION_CURRENT);
  hello.set_client_nonce(std::string(kNonceBytes, 'n'));
  hello.set_pid(42);
  pb::Register reg;
  reg.set_pid(42);
  reg.set_rank_hint(-1);
  for (const char* host : {"", "node-7.cluster", "10.0.0.2", "::1", "gpu_3"}) {
    hello.set_host(host);
    reg.set_host(host);
    EXPECT_TRUE(validate_hello(hello).ok()) << host;
    EXPECT_TRUE(validate_register(reg).ok()) << host;
  }
  for (const char* host : {"x\n[info] job succeeded", "\x1b[31mred", "a b", "h\xc3\xa9"}) {
    hello.set_host(host);
    reg.set_host(host);
    const Status bad_hello = validate_hello(hello);
    const Status bad_register = validate_register(reg);
    EXPECT_EQ(bad_hello.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bad_register.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad_hello.message().find("Hello.host"), std::string::npos) << bad_hello.message();
    EXPECT_NE(bad_hello.message().find("[A-Za-z0-9._:-]"), std::string::npos);
    EXPECT_NE(bad_register.message().find("Register.host"), std::string::npos);
    // The error itself shows the name escaped.
    EXPECT_EQ(bad_hello.message().find('\n'), std::string::npos);
    EXPECT_EQ(bad_hello.message().find('\x1b'), std::string::npos);
  }
}

// --rank-weights auto: a peer's speed is data (finite, >= 0), and the MLP a Welcome asks a
// worker to time is bounded before the worker allocates it.
TEST(ValidateCalibration, SpeedsAndWidthsAreBounded) {
  pb::Register reg;
  reg.set_pid(42);
  reg.set_rank_hint(-1);
  for (const double speed : {0.0, 1.5, 2e6}) {
    reg.set_speed(speed);
    EXPECT_TRUE(validate_register(reg).ok()) << speed;
  }
  for (const double speed : {-1.0, std::nan(""), HUGE_VAL, 1e16}) {
    reg.set_speed(speed);
    const Status bad = validate_register(reg);
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << speed;
    EXPECT_NE(bad.message().find("Register.speed"), std::string::npos) << bad.message();
  }
  pb::Welcome welcome;
  welcome.mutable_comm()->set_backend(pb::COMM_BACKEND_LOCAL);
  welcome.mutable_heartbeat()->set_interval_ms(100);
  welcome.mutable_heartbeat()->set_dead_after_ms(1000);
  pb::Calibration* c = welcome.mutable_calibration();
  c->set_d_model(256);
  c->set_mlp_hidden(1024);
  c->set_threads(4);
  ASSERT_TRUE(validate_welcome(welcome).ok()) << validate_welcome(welcome).to_string();
  c->set_d_model(int64_t{1} << 40);
  EXPECT_NE(validate_welcome(welcome).message().find("Calibration.d_model"), std::string::npos);
  c->set_d_model(256);
  c->set_mlp_hidden(-1);
  EXPECT_NE(validate_welcome(welcome).message().find("Calibration.mlp_hidden"), std::string::npos);
  c->set_mlp_hidden(1024);
  c->set_device(static_cast<pb::ComputeDevice>(9));
  EXPECT_NE(validate_welcome(welcome).message().find("Calibration.device"), std::string::npos);
}

TEST(ErrorConversion, EscapesThePeersMessage) {
  pb::Error error;
  error.set_code(pb::ERROR_CODE_UNAVAILABLE);
  error.set_rank(1);
  error.set_host("node1");
  error.set_message("oops\n[2024-01-01] [coordinator] [info] job 1 succeeded\x1b[2J");
  const Status back = from_pb_error(error);
  EXPECT_EQ(back.message().find('\n'), std::string::npos) << back.message();
  EXPECT_EQ(back.message().find('\x1b'), std::string::npos) << back.message();
  EXPECT_NE(back.message().find("oops\\n[2024-01-01]"), std::string::npos) << back.message();
}

}  // namespace
}  // namespace ringmaster::proto
