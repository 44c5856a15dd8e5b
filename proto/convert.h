// proto/convert.h: proto types to and from the types of the rooms proto may know (core's Status,
// comm's PartitionPlan and CommSpec).
//
// comm/, attention/ and model/ never see a proto type (STYLE.md 1). Conversions to the types of
// higher rooms live with their consumer (the worker's to the attention check: worker/job_spec.h).
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "comm/make_communicator.h"
#include "comm/partition.h"
#include "core/status.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::proto {

pb::Plan to_pb_plan(comm::PlanKind kind);
// The job's plan: over the records of a model job (cuts on plan_align boundaries of each
// record), over one sequence of num_tokens for a check job.
StatusOr<comm::PartitionPlan> to_partition_plan(const pb::JobSpec& job);
// The records of a model job (one record of num_tokens for a check job). REQUIRES: a valid spec.
comm::RecordLayout to_record_layout(const pb::JobSpec& job);
// REQUIRES (else the error of validate_comm_config): a valid config.
StatusOr<comm::CommSpec> to_comm_spec(const pb::CommConfig& config);

// A Status as a control-plane Error from (rank, host, pid); and back, with the sender named in
// the message ("rank 2 (host-a pid 4242): unavailable: ...").
pb::Error to_pb_error(const Status& status, int rank, const std::string& host, int64_t pid);
pb::Error unauthenticated_error(const std::string& message);
Status from_pb_error(const pb::Error& error);

}  // namespace ringmaster::proto
