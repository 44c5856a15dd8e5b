#include "coordinator/admission.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace ringmaster::coordinator {
namespace {

TEST(Admission, AdmitsUntilFull) {
  Admission admission({/*max_total=*/4, /*max_per_source=*/2});
  EXPECT_EQ(admission.admit(1, "10.0.0.1"), std::nullopt);
  EXPECT_EQ(admission.admit(2, "10.0.0.2"), std::nullopt);
  EXPECT_EQ(admission.admit(3, "10.0.0.3"), std::nullopt);
  EXPECT_EQ(admission.admit(4, "10.0.0.1"), std::nullopt);
  EXPECT_EQ(admission.size(), 4);
  EXPECT_EQ(admission.from_source("10.0.0.1"), 2);
}

// When every slot is taken, the oldest goes, not the newcomer: a stranger who came first cannot
// keep the door shut.
TEST(Admission, FullTableDropsTheOldest) {
  Admission admission({3, 3});
  admission.admit(1, "a");
  admission.admit(2, "b");
  admission.admit(3, "c");
  EXPECT_EQ(admission.admit(4, "d"), std::optional<uint64_t>(1));
  EXPECT_EQ(admission.admit(5, "d"), std::optional<uint64_t>(2));
  EXPECT_EQ(admission.size(), 3);
  EXPECT_EQ(admission.from_source("a"), 0);
  EXPECT_EQ(admission.from_source("d"), 2);
}

// A source at its cap displaces only its own connections; other sources keep theirs.
TEST(Admission, PerSourceCapDropsThatSourcesOldest) {
  Admission admission({8, 2});
  admission.admit(1, "victim-host");
  admission.admit(2, "flood");
  admission.admit(3, "flood");
  for (uint64_t id = 4; id < 100; ++id) {
    const std::optional<uint64_t> dropped = admission.admit(id, "flood");
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ(*dropped, id - 2);  // the flood's own oldest
    EXPECT_EQ(admission.from_source("flood"), 2);
  }
  EXPECT_EQ(admission.from_source("victim-host"), 1);
  EXPECT_EQ(admission.size(), 3);
}

// A connection that has sent its Hello outlives every silent one, even of its own address: an
// idle flood from the worker's own host cannot push a worker out mid-handshake.
TEST(Admission, SilentConnectionsGoBeforeOnesThatSpoke) {
  Admission admission({4, 3});
  admission.admit(1, "127.0.0.1");  // the worker
  admission.spoke(1);
  admission.admit(2, "127.0.0.1");
  admission.admit(3, "127.0.0.1");
  for (uint64_t id = 4; id < 50; ++id) {
    const std::optional<uint64_t> dropped = admission.admit(id, "127.0.0.1");
    ASSERT_TRUE(dropped.has_value());
    EXPECT_NE(*dropped, 1u);
  }
  EXPECT_EQ(admission.from_source("127.0.0.1"), 3);
  // Globally too: the table is full of silent ones from elsewhere.
  Admission global({3, 3});
  global.admit(1, "w");
  global.spoke(1);
  global.admit(2, "x");
  global.admit(3, "y");
  EXPECT_EQ(global.admit(4, "z"), std::optional<uint64_t>(2));
  EXPECT_EQ(global.admit(5, "z"), std::optional<uint64_t>(3));
  EXPECT_EQ(global.admit(6, "z"), std::optional<uint64_t>(4));
  // Only when every connection has spoken does the oldest speaker go.
  global.spoke(5);
  global.spoke(6);
  EXPECT_EQ(global.admit(7, "z"), std::optional<uint64_t>(1));
}

TEST(Admission, RemoveFreesTheSlotAndIgnoresUnknownIds) {
  Admission admission({2, 1});
  admission.admit(1, "a");
  admission.admit(2, "b");
  admission.remove(1);
  admission.remove(1);
  admission.remove(42);
  EXPECT_EQ(admission.size(), 1);
  EXPECT_EQ(admission.from_source("a"), 0);
  EXPECT_EQ(admission.admit(3, "a"), std::nullopt);
  // A dropped id is already forgotten: removing it later (its close handler) changes nothing.
  EXPECT_EQ(admission.admit(4, "a"), std::optional<uint64_t>(3));
  admission.remove(3);
  EXPECT_EQ(admission.size(), 2);
}

}  // namespace
}  // namespace ringmaster::coordinator
