// CountingComm and TrafficMeter: bytes each way and time blocked in waits, charged to the phase
// current when posted (bytes) or when blocking (waits); collectives over it are counted too;
// the wrapper is otherwise transparent.
#include "comm/counting_comm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "comm/collectives.h"
#include "comm/local_comm.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm {
namespace {

constexpr std::chrono::milliseconds kStepTimeout{5000};

const PhaseTraffic* find_phase(const std::vector<PhaseTraffic>& phases, const std::string& name) {
  for (const PhaseTraffic& p : phases) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

TEST(CountingComm, CountsBytesAndWaitsPerPhase) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  TrafficMeter meter;
  CountingComm counted(*group[0], meter);
  EXPECT_EQ(counted.rank(), 0);
  EXPECT_EQ(counted.size(), 2);
  EXPECT_EQ(counted.step_timeout(), kStepTimeout);

  std::vector<std::byte> in(24);
  const std::vector<std::byte> out = testing::pattern(0, 1, 0, 40);
  {
    TrafficMeter::Phase phase(&meter, "atlas");
    ASSERT_TRUE(counted.isend(1, out, Tag{0, 0, 1}).ok());
    StatusOr<Request> recv = counted.irecv(1, in, Tag{0, 0, 2});
    ASSERT_TRUE(recv.ok());
    // The peer sends 50 ms later: this rank blocks about that long in the wait.
    std::thread peer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::vector<std::byte> back = testing::pattern(1, 0, 0, 24);
      StatusOr<Request> send = group[1]->isend(0, back, Tag{0, 0, 2});
      ASSERT_TRUE(send.ok());
      std::vector<std::byte> got(40);
      StatusOr<Request> r = group[1]->irecv(0, got, Tag{0, 0, 1});
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(r->wait(step_deadline(*group[1])).ok());
      EXPECT_TRUE(send->wait(step_deadline(*group[1])).ok());
    });
    EXPECT_TRUE(recv->wait(step_deadline(counted)).ok());
    peer.join();
    EXPECT_EQ(testing::first_mismatch(in, 1, 0, 0), "");
  }
  // Outside every scope: "other".
  ASSERT_TRUE(counted.isend(1, std::span(out).first(8), Tag{0, 1, 1}).ok());
  std::vector<std::byte> drain(8);
  ASSERT_TRUE(group[1]->irecv(0, drain, Tag{0, 1, 1})->wait(step_deadline(*group[1])).ok());

  const std::vector<PhaseTraffic> phases = meter.phases();
  const PhaseTraffic* atlas = find_phase(phases, "atlas");
  ASSERT_NE(atlas, nullptr);
  EXPECT_EQ(atlas->scopes, 1);
  EXPECT_EQ(atlas->bytes_sent, 40);
  EXPECT_EQ(atlas->bytes_received, 24);
  EXPECT_EQ(atlas->messages_sent, 1);
  EXPECT_EQ(atlas->messages_received, 1);
  EXPECT_GE(atlas->wait_s, 0.03);
  EXPECT_GE(atlas->wall_s, atlas->wait_s);
  const PhaseTraffic* other = find_phase(phases, kOtherPhase);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->bytes_sent, 8);
  EXPECT_EQ(other->bytes_received, 0);
  EXPECT_EQ(other->scopes, 0);

  const PhaseTraffic total = meter.total();
  EXPECT_EQ(total.bytes_sent, 48);
  EXPECT_EQ(total.bytes_received, 24);
  EXPECT_DOUBLE_EQ(total.wait_s, atlas->wait_s + other->wait_s);
}

// A collective over the counting layer: each rank sends and receives (P - 1) slots.
TEST(CountingComm, CountsCollectives) {
  constexpr int kWorld = 3;
  auto group = LocalComm::make_local_group(kWorld, kStepTimeout);
  std::vector<TrafficMeter> meters(kWorld);
  std::vector<std::thread> threads;
  for (int r = 0; r < kWorld; ++r) {
    threads.emplace_back([&, r] {
      CountingComm counted(*group[static_cast<size_t>(r)], meters[static_cast<size_t>(r)]);
      TrafficMeter::Phase phase(&meters[static_cast<size_t>(r)], "fit");
      const std::vector<std::byte> mine = testing::pattern(r, r, 0, 16);
      std::vector<std::byte> all(16 * kWorld);
      EXPECT_TRUE(all_gather(counted, mine, all, Tag{0, 0, 7}).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const TrafficMeter& meter : meters) {
    const std::vector<PhaseTraffic> phases = meter.phases();
    ASSERT_EQ(phases.size(), 1u);
    EXPECT_EQ(phases[0].name, "fit");
    EXPECT_EQ(phases[0].bytes_sent, 16 * (kWorld - 1));
    EXPECT_EQ(phases[0].bytes_received, 16 * (kWorld - 1));
    EXPECT_GT(phases[0].wait_s, 0.0);
  }
}

// Rejected calls count nothing; nested scopes restore the outer phase; "" is no scope.
TEST(CountingComm, RejectedCallsAndNestedScopes) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  TrafficMeter meter;
  CountingComm counted(*group[0], meter);
  const std::vector<std::byte> out(8);
  EXPECT_EQ(counted.isend(0, out, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(meter.total().bytes_sent, 0);
  {
    TrafficMeter::Phase outer(&meter, "decode");
    {
      TrafficMeter::Phase inner(&meter, "attention");
      EXPECT_EQ(meter.current(), "attention");
      TrafficMeter::Phase none(&meter, "");
      EXPECT_EQ(meter.current(), "attention");
      TrafficMeter::Phase again(&meter, "attention");  // counted once
    }
    { TrafficMeter::Phase inner(&meter, "attention"); }
    EXPECT_EQ(meter.current(), "decode");
  }
  EXPECT_EQ(meter.current(), kOtherPhase);
  TrafficMeter::Phase nothing(nullptr, "fit");  // no meter: counts nothing, never crashes
  const std::vector<PhaseTraffic> phases = meter.phases();
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0].name, "decode");
  EXPECT_EQ(phases[0].scopes, 1);
  EXPECT_EQ(phases[1].name, "attention");
  EXPECT_EQ(phases[1].scopes, 2);
}

}  // namespace
}  // namespace ringmaster::comm
