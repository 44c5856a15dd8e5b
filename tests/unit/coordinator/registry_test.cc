#include "coordinator/registry.h"

#include <gtest/gtest.h>

#include "coordinator/heartbeat_monitor.h"

namespace ringmaster::coordinator {
namespace {

WorkerInfo worker(int pid, int hint) {
  WorkerInfo info;
  info.host = std::string("h").append(std::to_string(pid));  // not "h" + ...: GCC 105329
  info.pid = pid;
  info.rank_hint = hint;
  return info;
}

TEST(Registry, HintsAreHonouredAndTheRestFillInJoinOrder) {
  Registry registry(4);
  ASSERT_TRUE(registry.add(worker(10, -1)).ok());
  ASSERT_TRUE(registry.add(worker(11, 2)).ok());
  ASSERT_TRUE(registry.add(worker(12, 0)).ok());
  EXPECT_EQ(registry.missing_ranks(), std::vector<int>{3});
  ASSERT_TRUE(registry.add(worker(13, -1)).ok());
  ASSERT_TRUE(registry.full());
  const Registry::Assignment a = registry.assign();
  EXPECT_EQ(a.rank_of, (std::vector<int>{1, 2, 0, 3}));
  EXPECT_EQ(a.worker_of, (std::vector<int>{2, 0, 1, 3}));
  EXPECT_TRUE(a.warnings.empty());
  EXPECT_FALSE(registry.add(worker(14, -1)).ok());  // full
}

TEST(Registry, ConflictingOrOutOfRangeHintsAreIgnoredWithAWarning) {
  Registry registry(3);
  ASSERT_TRUE(registry.add(worker(10, 1)).ok());
  ASSERT_TRUE(registry.add(worker(11, 1)).ok());  // duplicate: the first claim wins
  ASSERT_TRUE(registry.add(worker(12, 7)).ok());  // outside the world
  const Registry::Assignment a = registry.assign();
  EXPECT_EQ(a.rank_of, (std::vector<int>{1, 0, 2}));
  EXPECT_EQ(a.warnings.size(), 2u);
}

TEST(Registry, WorkersBeyondTheWorldAreSparesWithoutRanks) {
  Registry registry(2, 1);
  ASSERT_TRUE(registry.add(worker(10, 1)).ok());
  ASSERT_TRUE(registry.add(worker(11, -1)).ok());
  ASSERT_TRUE(registry.full());  // enough to start; the spare may come later
  ASSERT_TRUE(registry.add(worker(12, 0)).ok());
  EXPECT_FALSE(registry.is_spare(1));
  EXPECT_TRUE(registry.is_spare(2));
  const Registry::Assignment a = registry.assign();
  EXPECT_EQ(a.rank_of, (std::vector<int>{1, 0}));  // the spare's hint does not count
  EXPECT_TRUE(a.warnings.empty());
  EXPECT_FALSE(registry.add(worker(13, -1)).ok());  // world and spares all in
}

TEST(Registry, MissingRanksForTheJoinTimeout) {
  Registry registry(4);
  EXPECT_EQ(registry.missing_ranks(), (std::vector<int>{0, 1, 2, 3}));
  ASSERT_TRUE(registry.add(worker(10, 1)).ok());
  ASSERT_TRUE(registry.add(worker(11, -1)).ok());
  EXPECT_EQ(registry.missing_ranks(), (std::vector<int>{2, 3}));
}

TEST(Registry, DescribesWorkers) {
  EXPECT_EQ(describe_worker(worker(42, -1), 3), "rank 3 (h42 pid 42)");
  EXPECT_EQ(describe_worker(worker(42, -1), -1), "worker h42 pid 42");
}

TEST(HeartbeatMonitor, DeclaresSilentPeersDeadAfterTheDeadline) {
  using namespace std::chrono_literals;
  HeartbeatMonitor monitor(1000ms);
  const auto t0 = HeartbeatMonitor::Clock::time_point{} + 1h;
  monitor.heard_from(1, t0);
  monitor.heard_from(2, t0);
  EXPECT_TRUE(monitor.overdue(t0 + 1000ms).empty());  // exactly at the deadline: still alive
  monitor.heard_from(2, t0 + 800ms);
  const auto overdue = monitor.overdue(t0 + 1001ms);
  ASSERT_EQ(overdue.size(), 1u);
  EXPECT_EQ(overdue[0].id, 1);
  EXPECT_EQ(overdue[0].silent, 1001ms);
  monitor.forget(1);
  EXPECT_TRUE(monitor.overdue(t0 + 1500ms).empty());
  EXPECT_EQ(monitor.overdue(t0 + 1801ms).size(), 1u);
}

}  // namespace
}  // namespace ringmaster::coordinator
