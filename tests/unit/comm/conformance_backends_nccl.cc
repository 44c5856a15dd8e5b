// NcclComm for the conformance suite: rank r on GPU r, behind HostStagingComm (the suite's
// buffers are host memory). A case with more ranks than visible GPUs skips.
#include <cstdlib>

#include "tests/unit/comm/conformance_backends.h"
#include "tests/unit/comm/nccl_test_group.h"

namespace ringmaster::comm::testing {

std::vector<std::string> conformance_backends() { return {"nccl"}; }

StatusOr<ConformanceGroup> make_conformance_group(const std::string& backend,
                                                  const std::string& /*transports*/, int world,
                                                  std::chrono::milliseconds step_timeout) {
  ConformanceGroup group;
  group.matches_by_tag = false;
  if (backend != "nccl") return invalid_argument("this binary runs only nccl, not " + backend);
  const int gpus = visible_gpus();
  if (gpus < world) {
    if (gpus == 0 && std::getenv("RINGMASTER_REQUIRE_GPU") != nullptr) {
      return failed_precondition("RINGMASTER_REQUIRE_GPU is set but no CUDA device is visible");
    }
    group.skip = "needs " + std::to_string(world) + " GPUs (one per rank), " +
                 std::to_string(gpus) + " visible";
    return group;
  }
  RM_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Communicator>> ranks,
                      make_nccl_group(world, step_timeout));
  for (int r = 0; r < world; ++r) {
    group.ranks.push_back(
        std::make_unique<HostStagingComm>(std::move(ranks[static_cast<size_t>(r)]), r));
  }
  return group;
}

}  // namespace ringmaster::comm::testing
