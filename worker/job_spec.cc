#include "worker/job_spec.h"

#include <algorithm>

namespace ringmaster::worker {

namespace {

ComputeDevice device_of(pb::ComputeDevice device) {
  switch (device) {
    case pb::COMPUTE_DEVICE_CUDA:
      return ComputeDevice::kCuda;
    case pb::COMPUTE_DEVICE_AUTO:
      return ComputeDevice::kAuto;
    default:
      return ComputeDevice::kCpu;
  }
}

DType dtype_of(pb::ComputeDType dtype) {
  return dtype == pb::COMPUTE_DTYPE_BF16 ? DType::kBf16 : DType::kF32;
}

}  // namespace

attention::ContextParallelism context_parallel_of(const pb::JobSpec& job) {
  switch (job.context_parallel()) {
    case pb::CONTEXT_PARALLEL_ULYSSES:
      return attention::ContextParallel::kUlysses;
    case pb::CONTEXT_PARALLEL_HYBRID:
      return {attention::ContextParallel::kHybrid, job.ulysses_degree()};
    default:
      return attention::ContextParallel::kRing;
  }
}

ComputeDevice compute_device_of(const pb::JobSpec& job) { return device_of(job.device()); }

DType compute_dtype_of(const pb::JobSpec& job) { return dtype_of(job.compute_dtype()); }

CalibrationSpec calibration_spec_of(const pb::Calibration& calibration, int local_rank) {
  CalibrationSpec spec;
  spec.d_model = calibration.d_model();
  spec.mlp_hidden = calibration.mlp_hidden();
  spec.threads = std::max(1, calibration.threads());
  spec.device = device_of(calibration.device());
  spec.compute = dtype_of(calibration.compute_dtype());
  spec.local_rank = local_rank;
  return spec;
}

StatusOr<attention::CheckJobSpec> check_job_spec_of(const pb::JobSpec& job) {
  if (!job.has_check()) return invalid_argument("JobSpec.job is not a check job");
  const pb::CheckJob& check = job.check();
  attention::CheckJobSpec spec;
  spec.num_tokens = check.num_tokens();
  spec.n_heads = check.n_heads();
  spec.n_kv_heads = check.n_kv_heads();
  spec.head_dim = check.head_dim();
  spec.causal = check.causal();
  spec.seed = check.seed();
  spec.context_parallel = context_parallel_of(job);
  return spec;
}

GenerateSpec generate_spec_of(const pb::JobSpec& job) {
  const pb::ModelJob& m = job.model();
  GenerateSpec spec;
  spec.max_new_tokens = m.max_new_tokens();
  spec.sampling.temperature = m.temperature();
  spec.sampling.top_k = m.top_k();
  spec.sampling.seed = m.seed();
  spec.sampling.ignore_eos = m.ignore_eos();
  return spec;
}

}  // namespace ringmaster::worker
