#include "proto/validate.h"

#include <gtest/gtest.h>

#include "comm/authenticated_comm.h"
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
  job.set_plan(static_cast<pb::Plan>(42));
  expect_bad(job, "plan");
  job = good_job();
  job.set_context_parallel(pb::CONTEXT_PARALLEL_ULYSSES);
  job.set_world(3);
  expect_bad(job, "ulysses");
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

}  // namespace
}  // namespace ringmaster::proto
