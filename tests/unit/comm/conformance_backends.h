// tests/unit/comm/conformance_backends.h: which backends a binary's communicator conformance
// suite runs, and how it builds their groups.
//
// communicator_conformance_test.cc is compiled into two binaries, each linking one definition:
// conformance_backends_host.cc (ringmaster_comm_test: local and ucx, host memory) and
// conformance_backends_nccl.cc (ringmaster_comm_nccl_test, labelled gpu: NcclComm behind a
// decorator that stages the suite's host buffers through device memory).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"

namespace ringmaster::comm::testing {

struct ConformanceGroup {
  std::vector<std::unique_ptr<Communicator>> ranks;  // empty when skipped
  std::string skip;  // why this binary cannot run the case here ("needs 4 GPUs, 1 visible")
  // Receives match any order of posting and tags (false for NCCL, which matches in posting
  // order): the tests of out-of-order tags, size mismatches and expired waits need it.
  bool matches_by_tag = true;
};

// The backend names whose cases this binary instantiates.
std::vector<std::string> conformance_backends();

// `world` ranks of `backend` in this process; `transports` is UCX_TLS ("" = UCX's choice).
StatusOr<ConformanceGroup> make_conformance_group(const std::string& backend,
                                                  const std::string& transports, int world,
                                                  std::chrono::milliseconds step_timeout);

}  // namespace ringmaster::comm::testing
