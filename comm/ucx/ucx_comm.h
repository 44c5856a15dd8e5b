// comm/ucx/ucx_comm.h: UcxComm, the Communicator over UCX (host memory, the ucp tag API), its
// two-phase bootstrap, and ucs_status, the conversion of UCX error codes.
//
// Transport only: one ucp context and worker per rank, one endpoint per peer, and tag matching.
// A message carries the 64-bit wire tag (source rank << 48) | Tag::packed(), so a receive posted
// on the worker matches exactly one (peer, tag); ucp itself does not match on the sender. Waits
// drive ucp_worker_progress on the calling thread. Schedules (rings, collectives) live above.
//
// Unexpected messages (arrived before their receive): every progress round moves them out of
// UCX's unbounded queue into a bounded store of this rank, from which irecv takes them first
// (kUcxMaxUnexpectedMessages, kUcxMaxUnexpectedBytes; the rest are dropped and counted). The
// transport authenticates nothing: AuthenticatedComm (comm/authenticated_comm.h) does, above.
//
// Faults: endpoints use UCP_ERR_HANDLING_MODE_PEER. When UCX reports a peer failed (TCP sees a
// closed socket within milliseconds; shared memory only at the next keepalive round), every wait
// involving that peer returns kUnavailable naming it. A hung but live peer is not detected here:
// the step deadline turns it into kDeadlineExceeded (RELIABILITY.md §3, rule 2).
//
// Ownership: the bootstrap owns the ucp context and worker until connect() hands them to the
// Communicator. The Communicator and its Requests share them (shared_ptr), so the last one
// destroyed closes the endpoints (flushing, bounded by kUcxCloseTimeout, forced on failed peers),
// then destroys the worker and the context; if a close or a dropped request never finished, it
// keeps both until the process exits instead (UCX 1.13 aborts destroying a worker that holds
// such state; ucx_comm.cc, UcxWorker::left_behind_).
//
// Thread-safety: a UcxComm and its Requests are thread-compatible: one thread at a time calls
// them (the worker runs in UCS_THREAD_MODE_SERIALIZED, so that thread may change between calls).
// Separate UcxComms, in one process or many, are independent.
#pragma once

#include <ucs/type/status.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/make_communicator.h"
#include "core/status.h"

namespace ringmaster::comm {

// The non-OK path of ucs_status: a code by kind ("Endpoint timeout" -> kUnavailable, "Message
// truncated" -> kDataLoss, ...) and "file:line: ucx: <description> (<code>)".
Status ucs_error_status(ucs_status_t status, const char* file, int line);

// OK for UCS_OK, else the Status that ucs_error_status gives, naming the caller's file and line.
inline Status ucs_status(ucs_status_t status, const char* file = __builtin_FILE(),
                         int line = __builtin_LINE()) {
  if (status == UCS_OK) return ok_status();
  return ucs_error_status(status, file, line);
}

// Ranks fit in the top 16 bits of the wire tag.
inline constexpr int kUcxMaxRanks = 1 << 16;
// Bounds on messages that arrived before their receive was posted and wait for it (per rank):
// beyond them, or with a tag that names no peer, a message is dropped and counted. The bytes
// bound counts whole messages, since a sender may make UCX buffer a large one here; a genuine
// block that does not fit makes its step fail at the deadline, never silently.
inline constexpr size_t kUcxMaxUnexpectedMessages = 4096;
inline constexpr size_t kUcxMaxUnexpectedBytes = size_t{4} << 30;
// How long closing a communicator's endpoints may take before UCX is told to drop them.
inline constexpr std::chrono::milliseconds kUcxCloseTimeout{1000};

struct UcxOptions {
  // As UCX_TLS spells them ("tcp", "shm,tcp"); empty: UCX's choice (or UCX_TLS, which UCX reads).
  std::string transports;
  // Lets peers on one host use shared memory (sysv, posix). UCX 1.13 leaves it out of
  // UCP_ERR_HANDLING_MODE_PEER unless its mm transports expose error handling
  // (MM_ERROR_HANDLING=y, which this sets), and same-host peers then talk over TCP loopback,
  // 2-4x slower here. A dead peer on shared memory is found only by keepalive
  // (keepalive_interval), not at once as TCP finds a closed socket.
  bool shared_memory = true;
  // UCX_KEEPALIVE_INTERVAL for this context; 0 keeps UCX's (20 s in 1.13).
  std::chrono::milliseconds keepalive_interval{0};
  // UCX_NET_DEVICES for this context ("lo", "eth0,eth1"): the network devices whose TCP (or
  // verbs) interfaces UCX opens. UCX's TCP transport listens on each opened device's address, so
  // "lo" keeps every data-plane listener on 127.0.0.1. Empty: every device (UCX's default).
  std::string net_devices = {};
};

namespace internal {
class UcxWorker;
}

// Phase one: a ucp context and worker, and the worker's address for the peer table.
class UcxBootstrap final : public CommBootstrap {
 public:
  // Errors: UCX setup failures as ucs_status converts them; transports UCX cannot use (an
  // unknown name, no such device here) are kUnavailable naming the list.
  static StatusOr<std::unique_ptr<UcxBootstrap>> create(const UcxOptions& options = {});
  ~UcxBootstrap() override;

  // The local ucp worker address blob.
  std::vector<std::byte> address() const override;

  // Creates one endpoint per peer and returns the UcxComm. REQUIRES (else kInvalidArgument):
  // 0 <= rank < peer_addresses.size() <= kUcxMaxRanks, no peer address empty. `peer_addresses`
  // may be freed on return. `job_id` is ignored. A second call is kFailedPrecondition.
  StatusOr<std::unique_ptr<Communicator>> connect(
      int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
      std::chrono::milliseconds step_timeout, ConstView job_id = {}) override;

 private:
  UcxBootstrap(std::shared_ptr<internal::UcxWorker> worker, std::vector<std::byte> address);

  std::shared_ptr<internal::UcxWorker> worker_;  // null once connect() has handed it over
  std::vector<std::byte> address_;
};

}  // namespace ringmaster::comm
