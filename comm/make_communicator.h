// comm/make_communicator.h: choosing a Communicator backend, and joining a job's data plane.
//
// A rank joins in two phases, so that addresses can travel through the coordinator:
//   auto boot = make_bootstrap(spec);           // local endpoint; nothing connected yet
//   send boot->address() to the coordinator;    // opaque bytes
//   receive every rank's address, in rank order (the coordinator's peer table);
//   auto comm = boot->connect(rank, addresses, step_timeout);
// UCX addresses are unauthenticated: they must only travel over the coordinator's authenticated
// channel (RELIABILITY.md §6), and a rank trusts the peer table it is given.
//
// This is the one place that knows which backends were built (make_communicator.cc alone tests
// RINGMASTER_HAVE_UCX). Thread-safety: the free functions are thread-safe; a CommBootstrap is
// thread-compatible.
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
  enum Backend { kLocal, kUcx };
  Backend backend = kLocal;
  // UCX only: transports, spelled as UCX_TLS ("tcp", "shm,tcp"); empty leaves the choice to UCX
  // (shared memory between processes of one host, else the network).
  std::string ucx_transports;
  // UCX only: let same-host peers use shared memory rather than TCP loopback (UcxOptions).
  bool ucx_shared_memory = true;
  // UCX only: how often UCX probes idle peers (0: UCX's default, 20 s). It bounds how long a
  // killed peer on shared memory goes unnoticed; TCP notices a closed socket at once.
  std::chrono::milliseconds ucx_keepalive_interval{0};
};

// "local" or "ucx"; kInvalidArgument for another name or a backend not built into this binary.
StatusOr<CommSpec::Backend> parse_backend(std::string_view name);
const char* backend_name(CommSpec::Backend backend);
// The backends this binary was built with, in CommSpec::Backend order: "local", then "ucx".
std::vector<std::string> built_backends();

// One rank's half-made membership of a job's data plane.
class CommBootstrap {
 public:
  virtual ~CommBootstrap() = default;
  // This rank's address: opaque bytes that peers pass back to connect(). Empty for local.
  virtual std::vector<std::byte> address() const = 0;
  // Connects to every other rank. `peer_addresses[r]` is rank r's address() (this rank's own
  // entry is ignored). Non-collective: transfers may start at once, and the transport finishes
  // wiring up on first use. May be called once. Errors: kInvalidArgument for a bad rank or table,
  // kFailedPrecondition on a second call, kUnavailable when a peer is unreachable.
  virtual StatusOr<std::unique_ptr<Communicator>> connect(
      int rank, const std::vector<std::vector<std::byte>>& peer_addresses,
      std::chrono::milliseconds step_timeout) = 0;
};

// The first phase for `spec.backend`. The local backend joins only a world of one rank (a
// single-process run); tests build bigger local groups with LocalComm::make_local_group.
// Errors: kInvalidArgument for a backend not built; UCX setup failures as ucs_status gives them.
StatusOr<std::unique_ptr<CommBootstrap>> make_bootstrap(const CommSpec& spec);

}  // namespace ringmaster::comm
