// tests/unit/comm/ucx_pair.h: the two-process UCX test's shared half: passing worker addresses
// through pipes (standing in for the coordinator) and the exchange both processes run.
//
// The test process is rank 0 and spawns ucx_pair_main as rank 1, whose stdin and stdout are
// pipes to the test. Each address travels as a little-endian u64 length and the bytes.
// Stateless functions; thread-compatible.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "comm/collectives.h"
#include "comm/communicator.h"
#include "core/status.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm::testing {

// Addresses are a few hundred bytes; anything near this is a broken pipe, not an address.
inline constexpr uint64_t kMaxAddressBytes = uint64_t{1} << 20;

// Tags of the pair exchange; kHeldTag is never sent (the receive a killed peer leaves pending).
inline constexpr Tag kPingTag{1, 0, 1};
inline constexpr Tag kBulkTag{1, 0, 2};
inline constexpr Tag kGatherTag{1, 0, 3};
inline constexpr Tag kHeldTag{1, 0, 4};

inline Status write_all(int fd, const void* data, size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return unavailable(std::string("pipe write: ") + std::strerror(errno));
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return ok_status();
}

inline Status read_all(int fd, void* data, size_t bytes) {
  auto* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::read(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unavailable(std::string("pipe read: ") + std::strerror(errno));
    if (n == 0) return unavailable("pipe closed by the other process");
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return ok_status();
}

inline Status write_address(int fd, const std::vector<std::byte>& address) {
  const uint64_t length = address.size();
  RM_RETURN_IF_ERROR(write_all(fd, &length, sizeof(length)));
  return write_all(fd, address.data(), address.size());
}

inline StatusOr<std::vector<std::byte>> read_address(int fd) {
  uint64_t length = 0;
  RM_RETURN_IF_ERROR(read_all(fd, &length, sizeof(length)));
  if (length == 0 || length > kMaxAddressBytes) {
    return data_loss("address of " + std::to_string(length) + " bytes");
  }
  std::vector<std::byte> address(length);
  RM_RETURN_IF_ERROR(read_all(fd, address.data(), address.size()));
  return address;
}

// Both ranks of a pair run this: ping-pong, 8 MiB each way, an all_gather and a zero-byte
// message. Any wrong byte is kDataLoss.
inline Status run_pair_exchange(Communicator& comm) {
  const int me = comm.rank();
  const int peer = 1 - me;
  uint64_t value = 0;
  for (uint32_t round = 0; round < 50; ++round) {
    const Tag tag{kPingTag.layer, round, kPingTag.kind};
    const auto bytes = std::as_writable_bytes(std::span(&value, 1));
    if ((round % 2 == 0) == (me == 0)) {
      ++value;
      RM_ASSIGN_OR_RETURN(Request send, comm.isend(peer, bytes, tag));
      RM_RETURN_IF_ERROR(send.wait(step_deadline(comm)));
    } else {
      const uint64_t expected = value + 1;
      RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(peer, bytes, tag));
      RM_RETURN_IF_ERROR(recv.wait(step_deadline(comm)));
      if (value != expected) return data_loss("ping-pong round " + std::to_string(round));
    }
  }

  constexpr size_t kBulk = size_t{8} << 20;
  const std::vector<std::byte> out = pattern(me, peer, 0, kBulk);
  std::vector<std::byte> in(kBulk);
  RM_ASSIGN_OR_RETURN(Request recv, comm.irecv(peer, in, kBulkTag));
  RM_ASSIGN_OR_RETURN(Request send, comm.isend(peer, out, kBulkTag));
  RM_RETURN_IF_ERROR(recv.wait(step_deadline(comm)));
  RM_RETURN_IF_ERROR(send.wait(step_deadline(comm)));
  const std::string wrong = first_mismatch(in, peer, me, 0);
  if (!wrong.empty()) return data_loss("bulk message: wrong " + wrong);

  const std::vector<std::byte> mine = pattern(me, 0, 1, 4096);
  std::vector<std::byte> all(2 * 4096);
  RM_RETURN_IF_ERROR(all_gather(comm, mine, all, kGatherTag));
  for (int r = 0; r < 2; ++r) {
    const std::vector<std::byte> part(all.begin() + r * 4096, all.begin() + (r + 1) * 4096);
    if (!first_mismatch(part, r, 0, 1).empty())
      return data_loss("all_gather slot " + std::to_string(r));
  }

  RM_ASSIGN_OR_RETURN(Request empty_recv, comm.irecv(peer, MutableView{}, kGatherTag));
  RM_ASSIGN_OR_RETURN(Request empty_send, comm.isend(peer, ConstView{}, kGatherTag));
  RM_RETURN_IF_ERROR(empty_recv.wait(step_deadline(comm)));
  return empty_send.wait(step_deadline(comm));
}

}  // namespace ringmaster::comm::testing
