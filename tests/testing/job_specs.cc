#include "tests/testing/job_specs.h"

namespace ringmaster::testing {
namespace {

pb::JobSpec knobs(int world, pb::Plan plan) {
  pb::JobSpec job;
  job.set_job_id("test");
  job.set_world(world);
  job.set_plan(plan);
  job.set_plan_align(1);
  job.set_step_timeout_ms(5000);
  job.set_threads(1);
  job.set_result_chunk_bytes(1 << 20);
  job.set_context_parallel(pb::CONTEXT_PARALLEL_RING);
  job.mutable_comm()->set_backend(world == 1 ? pb::COMM_BACKEND_LOCAL : pb::COMM_BACKEND_UCX);
  job.mutable_heartbeat()->set_interval_ms(1000);
  job.mutable_heartbeat()->set_dead_after_ms(5000);
  job.set_join_timeout_ms(120000);
  job.set_auth_timeout_ms(10000);
  job.set_output_path("out.npy");
  return job;
}

}  // namespace

pb::JobSpec check_job_spec(int world, int64_t num_tokens) {
  pb::JobSpec job = knobs(world, pb::PLAN_CONTIGUOUS);
  pb::CheckJob* check = job.mutable_check();
  check->set_num_tokens(num_tokens);
  check->set_n_heads(1);
  check->set_n_kv_heads(1);
  check->set_head_dim(2);
  check->set_causal(true);
  check->set_seed(1);
  return job;
}

pb::JobSpec model_job_request(int world, pb::Plan plan) {
  pb::JobSpec job = knobs(world, plan);
  job.set_output_path("out");
  pb::ModelJob* model = job.mutable_model();
  model->set_model_dir("m");
  model->set_input_path("in.fa");
  model->set_task(pb::TASK_EMBED);
  return job;
}

}  // namespace ringmaster::testing
