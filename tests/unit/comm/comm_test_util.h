// tests/unit/comm/comm_test_util.h: building communicator groups in one process, running one
// thread per rank, and payloads whose every byte says who sent it, for the comm tests.
//
// Not thread-safe itself; run_ranks gives each rank's function its own thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/local_comm.h"
#include "comm/make_communicator.h"
#include "core/status.h"

namespace ringmaster::comm::testing {

// Word w of the message from `src` to `dst` numbered `seq` (splitmix64 of all four): distinct
// across all of them, so a misrouted, reordered or shifted message shows up as wrong bytes.
inline uint64_t pattern_word(int src, int dst, int seq, uint64_t w) {
  uint64_t x = (uint64_t(unsigned(src)) << 48) ^ (uint64_t(unsigned(dst)) << 32) ^
               (uint64_t(unsigned(seq)) << 8) ^ (w * 0x9e3779b97f4a7c15u);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

inline std::vector<std::byte> pattern(int src, int dst, int seq, size_t bytes) {
  std::vector<std::byte> data(bytes);
  for (size_t offset = 0; offset < bytes; offset += 8) {
    const uint64_t word = pattern_word(src, dst, seq, offset / 8);
    std::memcpy(data.data() + offset, &word, std::min<size_t>(8, bytes - offset));
  }
  return data;
}

// "" when `got` is the pattern, else where the first difference is.
inline std::string first_mismatch(const std::vector<std::byte>& got, int src, int dst, int seq) {
  const std::vector<std::byte> want = pattern(src, dst, seq, got.size());
  if (want == got) return "";
  const size_t i =
      static_cast<size_t>(std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin());
  return "byte " + std::to_string(i) + " of the message " + std::to_string(src) + "->" +
         std::to_string(dst) + " #" + std::to_string(seq);
}

// A group of `world` ranks of `backend` ("local" or "ucx") in this process. For UCX every rank
// gets its own context and worker and the addresses are exchanged in memory, as the
// coordinator would exchange them; `transports` is UCX_TLS ("" = UCX's choice).
inline StatusOr<std::vector<std::unique_ptr<Communicator>>> make_group(
    const std::string& backend, const std::string& transports, int world,
    std::chrono::milliseconds step_timeout) {
  if (backend == "local") return LocalComm::make_local_group(world, step_timeout);
  RM_ASSIGN_OR_RETURN(CommSpec::Backend kind, parse_backend(backend));
  CommSpec spec;
  spec.backend = kind;
  spec.ucx_transports = transports;
  std::vector<std::unique_ptr<CommBootstrap>> boots;
  std::vector<std::vector<std::byte>> addresses;
  for (int r = 0; r < world; ++r) {
    RM_ASSIGN_OR_RETURN(std::unique_ptr<CommBootstrap> boot, make_bootstrap(spec));
    addresses.push_back(boot->address());
    boots.push_back(std::move(boot));
  }
  std::vector<std::unique_ptr<Communicator>> group;
  for (int r = 0; r < world; ++r) {
    RM_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm,
                        boots[static_cast<size_t>(r)]->connect(r, addresses, step_timeout));
    group.push_back(std::move(comm));
  }
  return group;
}

// Runs fn(rank's communicator) on one thread per rank and returns each rank's Status.
inline std::vector<Status> run_ranks(const std::vector<std::unique_ptr<Communicator>>& group,
                                     const std::function<Status(Communicator&)>& fn) {
  std::vector<Status> statuses(group.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < group.size(); ++r) {
    threads.emplace_back([&, r] { statuses[r] = fn(*group[r]); });
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

// Destroys every rank at once: closing a UCX endpoint flushes it, which a peer that is itself
// closing completes sooner than one that has stopped progressing.
inline void destroy_group(std::vector<std::unique_ptr<Communicator>>& group) {
  std::vector<std::thread> threads;
  for (auto& comm : group) threads.emplace_back([&comm] { comm.reset(); });
  for (std::thread& t : threads) t.join();
  group.clear();
}

}  // namespace ringmaster::comm::testing
