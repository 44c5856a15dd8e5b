// core/cancel.h: cooperative cancellation of a shard's work, so a failed job stops everything
// within a second (RELIABILITY.md R1, issue 14).
//
// The flag is C++20's std::stop_token. The worker owns one std::stop_source per shard
// (worker/shard_runner.cc) and requests a stop when the job is over for that shard: the
// coordinator's Abort, a lost coordinator, SIGINT/SIGTERM, a restart. Whatever may run for long
// polls the token it was handed, at coarse points only:
//   - the block loop, between blocks and between a block's mixer and MLP (model/model.cc);
//   - the mixers, between query chunks and ATLAS chain blocks;
//   - ThreadPool::parallel_for, between items, i.e. between the kernels' tiles;
//   - the CPU attention kernel, between key tiles of one task;
//   - every data-plane wait (comm/cancellable_comm.h).
// A poll is one atomic load, and a default token (no source) is never stopped, so code that is
// not cancellable (tests, benches) passes nothing. Work that sees a stop returns the kCancelled
// Status of check_cancelled, which travels up like any other error; the worker knows it for the
// abort it is and reports nothing more.
//
// Thread-safety: a std::stop_token may be polled from any thread while another requests a stop.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>

#include "core/status.h"

namespace ringmaster {

// OK while no stop was requested; then kCancelled "`what`: cancelled". Cheap on the OK path (no
// string is built), so it may sit in a tile loop.
inline Status check_cancelled(const std::stop_token& stop, std::string_view what) {
  if (!stop.stop_requested()) return ok_status();
  return cancelled(std::string(what) + ": cancelled");
}

}  // namespace ringmaster
