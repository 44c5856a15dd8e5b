// comm/nccl/nccl_comm.h: NcclComm, the Communicator over NCCL point-to-point (device memory,
// stream-ordered), its two-phase bootstrap, the job's unique id, and nccl_status.
//
// Transport only: one non-blocking NCCL communicator per rank, on one GPU, with its own
// non-blocking CUDA stream. isend and irecv take DEVICE pointers (host memory is refused).
//
// Matching. NCCL has no tags: the messages between one ordered pair of ranks match in posting
// order. Protocols must therefore post, per pair and direction, in the same order on both sides
// (the ring and the collectives do). A mismatch is made loud rather than silent: every message
// travels as a 16-byte header (packed tag, bytes) plus its payload, in one NCCL group, and a
// receive checks the header on completion: another tag or size is kDataLoss naming this rank,
// the peer and both tags. (NCCL's behaviour for unequal counts is undefined, so a size mismatch
// may instead stall until the deadline; either way the communicator is then broken.) The header
// costs one small extra transfer per message, which is noise next to a K/V block.
//
// Grouping. Calls are not launched one by one: NCCL serializes the operations of one
// communicator on its stream, so a receive launched alone would block the send posted after it
// and two ranks doing "irecv, isend" would deadlock. Instead every isend/irecv posted since the
// last launch waits in a batch that is launched as ONE ncclGroupStart/End when any Request of
// this communicator is tested or waited on. A ring step (isend, irecv, then test() between
// compute slices) and a collective (post all, wait all) thus run as one group each. REQUIRES:
// every operation a peer needs before it can complete one of ours is posted before we test or
// wait (post a step's sends and receives, then wait).
//
// Requests wrap the batch's cudaEvent, recorded after the group: test() queries it; wait()
// polls it and ncclCommGetAsyncError, yielding and sleeping up to 1 ms between polls.
//
// Streams. Transfers run on this communicator's own stream, which is ordered after nothing
// else: a buffer must hold its final bytes when isend is called (synchronize the stream that
// wrote it first), and may be read or rewritten by other streams only after its Request is done.
//
// Faults. A wait past its deadline is kDeadlineExceeded and an asynchronous NCCL error is
// kUnavailable, both naming this rank, the peer and the tag; a header mismatch is kDataLoss.
// After any of them, or after a Request is dropped before it completed (NCCL cannot cancel one
// transfer), the communicator is broken: it aborts itself (ncclCommAbort on a thread of its
// own, RELIABILITY.md 1.1: abort has hung in many releases) and every later call fails fast with
// kUnavailable. Destruction finalizes a healthy communicator and waits for a broken one's abort,
// each for at most NcclOptions::abort_timeout; past that it logs, leaks the CUDA state and
// returns. A process whose abort hung must not exit normally (CUDA teardown may then hang): the
// worker's abort-grace watchdog, shorter than abort_timeout, _exits it (worker/worker.h).
//
// Ownership: the communicator and its Requests share the NCCL state; the last one destroyed
// tears it down. Thread-safety: thread-compatible, like every Communicator; each call sets this
// communicator's device for its own duration and restores the caller's.
#pragma once

#include <nccl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/make_communicator.h"
#include "core/status.h"

namespace ringmaster::comm {

// The non-OK path of nccl_status: kUnavailable for ncclSystemError and ncclRemoteError (a peer
// or the network), kInvalidArgument for ncclInvalidArgument and ncclInvalidUsage, else kInternal;
// "file:line: nccl: <description> (<code>)" plus NCCL's last error string.
Status nccl_error_status(ncclResult_t result, const char* file, int line);

// OK for ncclSuccess (and ncclInProgress, which a non-blocking communicator returns for work it
// has started), else the Status that nccl_error_status gives, naming the caller's file and line.
inline Status nccl_status(ncclResult_t result, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  if (result == ncclSuccess || result == ncclInProgress) return ok_status();
  return nccl_error_status(result, file, line);
}

// Size of the job's id (ncclUniqueId), which the coordinator makes and every rank's connect()
// needs.
inline constexpr size_t kNcclUniqueIdBytes = sizeof(ncclUniqueId);

// A fresh ncclUniqueId, as bytes. Works without a GPU. NCCL starts its bootstrap root in the
// calling process (a listening socket and a thread that lives until every rank has joined), so
// call it in the process the ranks can reach: the coordinator. Errors: as nccl_status gives them.
StatusOr<std::vector<std::byte>> make_nccl_unique_id();

struct NcclOptions {
  // Which GPU: local_rank modulo the number of visible devices (LOCAL_RANK, SLURM_LOCALID or
  // OMPI_COMM_WORLD_LOCAL_RANK, read by the launcher).
  int local_rank = 0;
  // How long destruction waits for finalize (healthy) or abort (broken) before it gives up.
  std::chrono::milliseconds abort_timeout{30000};
};

// Phase one: picks the GPU. The address names this host and the GPU's PCI bus id, so that
// connect() can refuse two ranks on one GPU.
class NcclBootstrap final : public CommBootstrap {
 public:
  // Errors: kFailedPrecondition when no GPU is visible; CUDA errors as cuda_status gives them.
  static StatusOr<std::unique_ptr<NcclBootstrap>> create(const NcclOptions& options = {});

  // "<host> <pci bus id>", as bytes.
  std::vector<std::byte> address() const override;

  // Joins the job's NCCL communicator; collective: every rank must call it, and it returns once
  // all have joined or `step_timeout` has passed (kDeadlineExceeded; the half-made communicator
  // is aborted). REQUIRES (else kInvalidArgument): 0 <= rank < peer_addresses.size(), every
  // address well formed, `job_id` is make_nccl_unique_id()'s kNcclUniqueIdBytes. Two ranks on
  // one GPU of one host are kFailedPrecondition: NCCL needs one GPU per rank. A second call is
  // kFailedPrecondition.
  StatusOr<std::unique_ptr<Communicator>> connect(
      int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
      std::chrono::milliseconds step_timeout, ConstView job_id = {}) override;

  int device() const { return device_; }

 private:
  NcclBootstrap(const NcclOptions& options, int device, std::string address);

  NcclOptions options_;
  int device_;
  std::string address_;
  bool connected_ = false;
};

}  // namespace ringmaster::comm
