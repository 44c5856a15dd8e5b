// worker/job_spec.h: a worker's reading of the JobSpec in its Assignment, in the types of the
// rooms below (attention's check job and context parallelism, the compute device, generate's
// sampling options).
//
// proto/ knows only core and comm types; these conversions live here, with their one consumer.
// Pure functions; thread-safe. REQUIRES of each: a spec that passed validate_job_spec.
#pragma once

#include "attention/check_job.h"
#include "attention/context_parallel.h"
#include "core/status.h"
#include "proto/ringmaster.pb.h"
#include "worker/attention_backend.h"
#include "worker/calibration.h"
#include "worker/generate_shard.h"

namespace ringmaster::worker {

attention::ContextParallelism context_parallel_of(const pb::JobSpec& job);
ComputeDevice compute_device_of(const pb::JobSpec& job);
// What the products read (JobSpec.compute_dtype): DType::kF32 or DType::kBf16.
DType compute_dtype_of(const pb::JobSpec& job);
// What a Welcome asks this worker to time (REQUIRES: it passed validate_welcome), on the GPU
// local_rank picks.
CalibrationSpec calibration_spec_of(const pb::Calibration& calibration, int local_rank);
// kInvalidArgument when the spec is not a check job.
StatusOr<attention::CheckJobSpec> check_job_spec_of(const pb::JobSpec& job);
// A generate job's knobs (max_new_tokens and model/sampling.h's options).
// REQUIRES: a model job (generate's knobs are zero in the others).
GenerateSpec generate_spec_of(const pb::JobSpec& job);

}  // namespace ringmaster::worker
