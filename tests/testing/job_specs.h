// tests/testing/job_specs.h: JobSpecs that pass validate_job_request, with every knob set the way
// `ringmaster run`'s defaults set it, so a test states only what it is about.
#pragma once

#include "proto/ringmaster.pb.h"

namespace ringmaster::testing {

// An attention check of `num_tokens` tokens, 1 head of head_dim 2, on `world` ranks (contiguous,
// ring, UCX data plane; LOCAL when world is 1), output "out.npy", production liveness knobs.
pb::JobSpec check_job_spec(int world, int64_t num_tokens = 10);

// A model job as job_spec_from_flags leaves it (embed, model "m", input "in.fa"): valid as a
// request; the planner fills in its records, width and depth.
pb::JobSpec model_job_request(int world, pb::Plan plan);

}  // namespace ringmaster::testing
