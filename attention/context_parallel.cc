#include "attention/context_parallel.h"

#include "attention/hybrid.h"
#include "attention/ulysses.h"

namespace ringmaster::attention {

StatusOr<ContextParallel> parse_context_parallel(std::string_view name) {
  if (name == "ring") return ContextParallel::kRing;
  if (name == "ulysses") return ContextParallel::kUlysses;
  if (name == "hybrid") return ContextParallel::kHybrid;
  return invalid_argument("unknown context parallelism '" + std::string(name) +
                          "' (ring, ulysses, hybrid)");
}

const char* context_parallel_name(ContextParallel how) {
  switch (how) {
    case ContextParallel::kUlysses:
      return "ulysses";
    case ContextParallel::kHybrid:
      return "hybrid";
    case ContextParallel::kRing:
      break;
  }
  return "ring";
}

std::string ContextParallelism::to_string() const {
  std::string name = context_parallel_name(how);
  if (how == ContextParallel::kHybrid) {
    name.append(" (ulysses degree ").append(std::to_string(ulysses_degree)).append(")");
  }
  return name;
}

namespace {

// Ulysses and the hybrid move q, k and v through host all-to-alls.
StatusOr<BlockResult> on_host(const ContextParallelism& how, comm::Communicator& comm,
                              const comm::PartitionPlan& plan, const Tensor& q, const Tensor& k,
                              const Tensor& v, const Positions& positions, const MaskSpec& mask,
                              AttentionBackend& backend, uint32_t layer, DistStats* stats,
                              const comm::RecordLayout* layout) {
  if (how.how == ContextParallel::kUlysses) {
    return ulysses_attention(comm, plan, q, k, v, positions, mask, backend, layer, stats, layout);
  }
  return hybrid_attention(comm, plan, how.ulysses_degree, q, k, v, positions, mask, backend, layer,
                          stats, layout);
}

}  // namespace

StatusOr<BlockResult> context_parallel_attention(
    const ContextParallelism& how, comm::Communicator& comm, const comm::PartitionPlan& plan,
    const Tensor& q, const Tensor& k, const Tensor& v, const Positions& positions,
    const MaskSpec& mask, AttentionBackend& backend, uint32_t layer, DistStats* stats,
    const comm::RecordLayout* layout) {
  if (how.how == ContextParallel::kRing) {
    return ring_attention(comm, plan, q, k, v, positions, mask, backend, layer, stats, layout);
  }
  if (q.device().is_cpu()) {
    return on_host(how, comm, plan, q, k, v, positions, mask, backend, layer, stats, layout);
  }
  RM_ASSIGN_OR_RETURN(const Tensor host_q, to_device(backend, q, Device::cpu()));
  RM_ASSIGN_OR_RETURN(BlockResult result, on_host(how, comm, plan, host_q, k, v, positions, mask,
                                                  backend, layer, stats, layout));
  RM_ASSIGN_OR_RETURN(result.out, to_device(backend, result.out, q.device()));
  RM_ASSIGN_OR_RETURN(result.lse, to_device(backend, result.lse, q.device()));
  return result;
}

}  // namespace ringmaster::attention
