// proto/convert.h: the only place proto types turn into the types of the rooms below
// (attention::CheckJobSpec, comm::PartitionPlan, Status) and back.
//
// attention/, comm/ and model/ never see a proto type (STYLE.md 1); the coordinator and worker
// call these at the boundary. Pure functions; thread-safe.
#pragma once

#include <string>

#include "attention/check_job.h"
#include "comm/make_communicator.h"
#include "comm/partition.h"
#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::proto {

pb::Plan to_pb_plan(comm::PlanKind kind);
pb::Mixer to_pb_mixer(attention::Distribution distribution);

// REQUIRES (else the error of validate_job_spec): a valid spec.
StatusOr<attention::CheckJobSpec> to_check_job_spec(const pb::JobSpec& job);
// The job's plan: over the records of a model job (cuts on plan_align boundaries of each
// record), over one sequence of num_tokens for a check job.
StatusOr<comm::PartitionPlan> to_partition_plan(const pb::JobSpec& job);
// The records of a model job (one record of num_tokens for a check job). REQUIRES: a valid spec.
comm::RecordLayout to_record_layout(const pb::JobSpec& job);
attention::Distribution to_distribution(pb::Mixer mixer);
// REQUIRES (else the error of validate_comm_config): a valid config.
StatusOr<comm::CommSpec> to_comm_spec(const pb::CommConfig& config);

// A Status as a control-plane Error from (rank, host, pid); and back, with the sender named in
// the message ("rank 2 (host-a pid 4242): unavailable: ...").
pb::Error to_pb_error(const Status& status, int rank, const std::string& host, int64_t pid);
pb::Error unauthenticated_error(const std::string& message);
Status from_pb_error(const pb::Error& error);

}  // namespace ringmaster::proto
