// comm/make_communicator.h: choosing a Communicator backend, and joining a job's data plane.
//
// A rank joins in two phases, so that addresses can travel through the coordinator:
//   coordinator: job_id = make_job_id(spec);    // once per job (NCCL's unique id; else empty)
//   auto boot = make_bootstrap(spec);           // local endpoint; nothing connected yet
//   send boot->address() to the coordinator;    // opaque bytes
//   receive every rank's address, in rank order (the coordinator's peer table), and job_id;
//   auto comm = boot->connect(rank, addresses, step_timeout, job_id);
// UCX addresses are unauthenticated: they must only travel over the coordinator's authenticated
// channel (RELIABILITY.md §6), and a rank trusts the peer table it is given.
//
// This is the one place that knows which backends were built (make_communicator.cc alone tests
// RINGMASTER_HAVE_UCX and RINGMASTER_HAVE_NCCL). Thread-safety: the free functions are thread-safe;
// a CommBootstrap is thread-compatible.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"

namespace ringmaster::comm {

struct CommSpec {
  enum Backend { kLocal, kUcx, kNccl };
  Backend backend = kLocal;
  // UCX only: transports, spelled as UCX_TLS ("tcp", "shm,tcp"); empty leaves the choice to UCX
  // (shared memory between processes of one host, else the network).
  std::string ucx_transports;
  // UCX only: let same-host peers use shared memory rather than TCP loopback (UcxOptions).
  bool ucx_shared_memory = true;
  // UCX only: how often UCX probes idle peers (0: UCX's default, 20 s). It bounds how long a
  // killed peer on shared memory goes unnoticed; TCP notices a closed socket at once.
  std::chrono::milliseconds ucx_keepalive_interval{0};
  // UCX only: the network interfaces the data plane listens and connects on, as UCX_NET_DEVICES
  // spells them ("lo", "eth0"); empty: all of them. Shared memory is not a network device and
  // stays usable. `ringmaster run` uses "lo" (RELIABILITY.md S9: no listener beyond loopback).
  std::string data_interface;
  // NCCL only: this process's rank among those on its host; its GPU is local_rank modulo the
  // visible devices (comm/nccl/nccl_comm.h).
  int local_rank = 0;
  // NCCL only: how long destroying a communicator waits for ncclCommFinalize or ncclCommAbort.
  // Keep it above the worker's abort grace, whose watchdog must _exit a process whose abort hung.
  std::chrono::milliseconds nccl_abort_timeout{30000};
};

// "local", "ucx" or "nccl"; kInvalidArgument for another name or a backend not built in.
StatusOr<CommSpec::Backend> parse_backend(std::string_view name);
const char* backend_name(CommSpec::Backend backend);
// The backends this binary was built with, in CommSpec::Backend order: "local", "ucx", "nccl".
std::vector<std::string> built_backends();

// The bytes every rank of one job passes to connect(), made once per job by the coordinator:
// NCCL's unique id (kNcclUniqueIdBytes; NCCL's bootstrap root then runs in the calling process,
// which every rank must reach), empty for local and UCX. Errors: kInvalidArgument for a backend
// not built; NCCL's, as nccl_status gives them.
StatusOr<std::vector<std::byte>> make_job_id(const CommSpec& spec);

// One rank's half-made membership of a job's data plane.
class CommBootstrap {
 public:
  virtual ~CommBootstrap() = default;
  // This rank's address: opaque bytes that peers pass back to connect(). Empty for local.
  virtual std::vector<std::byte> address() const = 0;
  // Connects to every other rank. `peer_addresses[r]` is rank r's address() (this rank's own
  // entry is ignored); `job_id` is make_job_id()'s bytes (NCCL needs them; others ignore them).
  // Local and UCX: non-collective, transfers may start at once and the transport finishes
  // wiring up on first use. NCCL: collective, returns once every rank joined or step_timeout
  // passed. May be called once. Errors: kInvalidArgument for a bad rank, table or id,
  // kFailedPrecondition on a second call, kUnavailable when a peer is unreachable.
  virtual StatusOr<std::unique_ptr<Communicator>> connect(
      int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
      std::chrono::milliseconds step_timeout, ConstView job_id = {}) = 0;
};

// The first phase for `spec.backend`. The local backend joins only a world of one rank (a
// single-process run); tests build bigger local groups with LocalComm::make_local_group.
// Errors: kInvalidArgument for a backend not built; UCX setup failures as ucs_status gives them;
// NCCL: kFailedPrecondition when no GPU is visible.
StatusOr<std::unique_ptr<CommBootstrap>> make_bootstrap(const CommSpec& spec);

}  // namespace ringmaster::comm
