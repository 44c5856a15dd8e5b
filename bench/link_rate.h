// bench/link_rate.h: the data plane between two ranks as the planner sees it (ALGORITHMS.md 0.1's
// B and a per-message latency alpha), measured over UcxComm, the transport workers use, and the
// in-process UCX groups the benchmarks run on.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"

namespace ringmaster::bench {

// `world` UCX communicators in this process, their addresses exchanged in memory; each rank is
// driven by its own thread. Errors: UCX is not built, or a communicator fails to connect.
StatusOr<std::vector<std::unique_ptr<comm::Communicator>>> make_ucx_group(int world);

struct LinkRate {
  double bandwidth = 0;  // bytes/s one way, at `bytes` per message
  double latency = 0;    // seconds: half the round trip of an 8-byte message
};

// Rank 0 sends `messages` messages of `bytes` to rank 1 (bandwidth), then the two ping-pong
// `round_trips` 8-byte messages (latency), over a fresh in-process UCX pair.
StatusOr<LinkRate> measure_ucx_link(int64_t bytes = int64_t{16} << 20, int messages = 20,
                                    int round_trips = 2000);

}  // namespace ringmaster::bench
