#include "bench/link_rate.h"

#include <chrono>
#include <thread>

#include "comm/make_communicator.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kConnectTimeout{120000};

// Each of `messages` sends (rank 0 -> 1, or back when `reply`) completes before the next.
Status pass(comm::Communicator& from, comm::Communicator& to, std::vector<std::byte>& send,
            std::vector<std::byte>& recv, int messages, uint8_t kind, bool reply) {
  Status receiver_status;
  std::thread receiver([&] {
    for (int i = 0; i < messages && receiver_status.ok(); ++i) {
      auto r = to.irecv(from.rank(), recv, comm::Tag{0, static_cast<uint32_t>(i), kind});
      receiver_status = r.ok() ? r->wait(comm::step_deadline(to)) : r.status();
      if (reply && receiver_status.ok()) {
        auto s = to.isend(from.rank(), recv, comm::Tag{1, static_cast<uint32_t>(i), kind});
        receiver_status = s.ok() ? s->wait(comm::step_deadline(to)) : s.status();
      }
    }
  });
  Status sender_status;
  for (int i = 0; i < messages && sender_status.ok(); ++i) {
    auto s = from.isend(to.rank(), send, comm::Tag{0, static_cast<uint32_t>(i), kind});
    sender_status = s.ok() ? s->wait(comm::step_deadline(from)) : s.status();
    if (reply && sender_status.ok()) {
      auto r = from.irecv(to.rank(), send, comm::Tag{1, static_cast<uint32_t>(i), kind});
      sender_status = r.ok() ? r->wait(comm::step_deadline(from)) : r.status();
    }
  }
  receiver.join();
  RM_RETURN_IF_ERROR(sender_status);
  return receiver_status;
}

}  // namespace

StatusOr<std::vector<std::unique_ptr<comm::Communicator>>> make_ucx_group(int world) {
  comm::CommSpec spec;
  spec.backend = comm::CommSpec::kUcx;
  std::vector<std::unique_ptr<comm::CommBootstrap>> boots;
  std::vector<std::vector<std::byte>> addresses;
  for (int r = 0; r < world; ++r) {
    RM_ASSIGN_OR_RETURN(auto boot, comm::make_bootstrap(spec));
    addresses.push_back(boot->address());
    boots.push_back(std::move(boot));
  }
  std::vector<std::unique_ptr<comm::Communicator>> group;
  for (int r = 0; r < world; ++r) {
    RM_ASSIGN_OR_RETURN(auto c,
                        boots[static_cast<size_t>(r)]->connect(r, addresses, kConnectTimeout));
    group.push_back(std::move(c));
  }
  return group;
}

StatusOr<LinkRate> measure_ucx_link(int64_t bytes, int messages, int round_trips) {
  RM_ASSIGN_OR_RETURN(auto group, make_ucx_group(2));
  LinkRate rate;
  std::vector<std::byte> send(static_cast<size_t>(bytes)), recv(send.size());
  // A first message sets up the endpoints (wireup), which the figures should not include.
  RM_RETURN_IF_ERROR(pass(*group[0], *group[1], send, recv, 1, 10, false));
  auto start = Clock::now();
  RM_RETURN_IF_ERROR(pass(*group[0], *group[1], send, recv, messages, 11, false));
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rate.bandwidth = static_cast<double>(bytes) * messages / seconds;
  std::vector<std::byte> ping(8), pong(8);
  RM_RETURN_IF_ERROR(pass(*group[0], *group[1], ping, pong, 10, 12, true));
  start = Clock::now();
  RM_RETURN_IF_ERROR(pass(*group[0], *group[1], ping, pong, round_trips, 13, true));
  seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rate.latency = seconds / round_trips / 2;
  return rate;
}

}  // namespace ringmaster::bench
