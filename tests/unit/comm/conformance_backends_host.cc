// The host-memory backends built into this binary (local, ucx). NCCL moves device memory, so its
// cases live in ringmaster_comm_nccl_test (conformance_backends_nccl.cc).
#include <algorithm>

#include "comm/make_communicator.h"
#include "tests/unit/comm/comm_test_util.h"
#include "tests/unit/comm/conformance_backends.h"

namespace ringmaster::comm::testing {

std::vector<std::string> conformance_backends() {
  std::vector<std::string> backends = built_backends();
  std::erase(backends, "nccl");
  return backends;
}

StatusOr<ConformanceGroup> make_conformance_group(const std::string& backend,
                                                  const std::string& transports, int world,
                                                  std::chrono::milliseconds step_timeout) {
  ConformanceGroup group;
  RM_ASSIGN_OR_RETURN(group.ranks, make_group(backend, transports, world, step_timeout));
  return group;
}

}  // namespace ringmaster::comm::testing
