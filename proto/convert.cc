#include "proto/convert.h"

#include "core/printable.h"
#include "proto/validate.h"

namespace ringmaster::proto {

pb::Plan to_pb_plan(comm::PlanKind kind) {
  switch (kind) {
    case comm::PlanKind::kContiguous:
      return pb::PLAN_CONTIGUOUS;
    case comm::PlanKind::kZigzag:
      return pb::PLAN_ZIGZAG;
    case comm::PlanKind::kStriped:
      return pb::PLAN_STRIPED;
  }
  return pb::PLAN_UNSPECIFIED;
}

StatusOr<comm::PartitionPlan> to_partition_plan(const pb::JobSpec& job) {
  RM_RETURN_IF_ERROR(validate_job_spec(job));
  comm::PlanKind kind = comm::PlanKind::kContiguous;
  if (job.plan() == pb::PLAN_ZIGZAG) kind = comm::PlanKind::kZigzag;
  if (job.plan() == pb::PLAN_STRIPED) kind = comm::PlanKind::kStriped;
  const std::vector<double> weights(job.rank_weights().begin(), job.rank_weights().end());
  if (job.has_model()) {
    return comm::PartitionPlan::make_for_records(kind, to_record_layout(job), job.world(),
                                                 job.plan_align(), weights);
  }
  return comm::PartitionPlan::make(kind, job.check().num_tokens(), job.world(), job.plan_align(),
                                   weights);
}

comm::RecordLayout to_record_layout(const pb::JobSpec& job) {
  if (!job.has_model()) return comm::RecordLayout::single(job.check().num_tokens());
  return comm::RecordLayout(std::vector<int64_t>(job.model().record_lengths().begin(),
                                                 job.model().record_lengths().end()));
}

StatusOr<comm::CommSpec> to_comm_spec(const pb::CommConfig& config) {
  RM_RETURN_IF_ERROR(validate_comm_config(config));
  comm::CommSpec spec;
  spec.backend = config.backend() == pb::COMM_BACKEND_UCX    ? comm::CommSpec::kUcx
                 : config.backend() == pb::COMM_BACKEND_NCCL ? comm::CommSpec::kNccl
                                                             : comm::CommSpec::kLocal;
  spec.ucx_transports = config.ucx_transports();
  spec.ucx_keepalive_interval = std::chrono::milliseconds(config.ucx_keepalive_ms());
  spec.data_interface = config.data_interface();
  return spec;
}

pb::Error to_pb_error(const Status& status, int rank, const std::string& host, int64_t pid) {
  pb::Error error;
  // ErrorCode values mirror StatusCode's enumerators one to one (ringmaster.proto).
  error.set_code(static_cast<pb::ErrorCode>(static_cast<int>(status.code())));
  // Keep within validate_error's limit however long the local message grew.
  error.set_message(status.message().substr(0, kMaxErrorMessageBytes));
  error.set_rank(rank);
  error.set_host(host.substr(0, kMaxHostBytes));
  error.set_pid(pid);
  return error;
}

pb::Error unauthenticated_error(const std::string& message) {
  pb::Error error;
  error.set_code(pb::ERROR_CODE_UNAUTHENTICATED);
  error.set_message(message);
  error.set_rank(-1);
  return error;
}

Status from_pb_error(const pb::Error& error) {
  StatusCode code = StatusCode::kInternal;
  const int raw = static_cast<int>(error.code());
  if (raw >= static_cast<int>(StatusCode::kInvalidArgument) &&
      raw <= static_cast<int>(StatusCode::kInternal)) {
    code = static_cast<StatusCode>(raw);
  } else if (error.code() == pb::ERROR_CODE_UNAUTHENTICATED) {
    code = StatusCode::kFailedPrecondition;
  }
  std::string who = error.rank() >= 0 ? "rank " + std::to_string(error.rank()) : "worker";
  // Both strings come from the peer: escaped, so they cannot forge a log line (core/printable.h).
  who += " (" + (error.host().empty() ? std::string("?") : printable(error.host(), kMaxHostBytes)) +
         " pid " + std::to_string(error.pid()) + ")";
  return Status(code, who + ": " + printable(error.message(), kMaxErrorMessageBytes));
}

}  // namespace ringmaster::proto
