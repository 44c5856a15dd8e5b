#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stop_token>
#include <vector>

#include "core/cancel.h"

namespace ringmaster {
namespace {

TEST(ThreadPool, RunsEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 3, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      std::atomic<int> bad_thread{0};
      pool.parallel_for(count, [&](int64_t i, int thread) {
        hits[static_cast<size_t>(i)]++;
        if (thread < 0 || thread >= threads) bad_thread++;
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
      EXPECT_EQ(bad_thread.load(), 0);
    }
  }
}

TEST(ThreadPool, ReusableManyTimes) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 500; ++round) {
    pool.parallel_for(7, [&](int64_t i, int) { total += i; });
  }
  EXPECT_EQ(total.load(), 500 * 21);
}

TEST(ThreadPool, NestedCallsRunSerially) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallel_for(4, [&](int64_t, int) {
    pool.parallel_for(5, [&](int64_t, int thread) {
      EXPECT_EQ(thread, 0);
      inner++;
    });
  });
  EXPECT_EQ(inner.load(), 20);
}

TEST(ThreadPool, UsesSeveralThreads) {
  ThreadPool pool(2);
  std::set<int> seen;
  std::mutex mutex;
  // Items that wait for each other can only finish if two threads run them.
  std::atomic<int> arrived{0};
  pool.parallel_for(2, [&](int64_t, int thread) {
    arrived++;
    while (arrived.load() < 2) std::this_thread::yield();
    std::lock_guard lock(mutex);
    seen.insert(thread);
  });
  EXPECT_EQ(seen.size(), 2u);
}

// core/cancel.h: a stopped loop hands out no further item, so it ends within one item per
// thread, and says so; a loop with a token never stopped runs every item.
TEST(ThreadPool, StopEndsTheLoopBetweenItems) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::stop_source source;
    std::atomic<int64_t> ran{0};
    const bool finished = pool.parallel_for(
        100000,
        [&](int64_t i, int) {
          ran++;
          // Every item from 10 on stops the loop, so each thread starts at most one of them.
          if (i >= 10) source.request_stop();
        },
        source.get_token());
    EXPECT_FALSE(finished);
    EXPECT_GE(ran.load(), 11);
    EXPECT_LE(ran.load(), 10 + threads) << threads << " threads";
    EXPECT_EQ(check_cancelled(source.get_token(), "loop").code(), StatusCode::kCancelled);

    std::stop_source never;
    std::atomic<int64_t> all{0};
    EXPECT_TRUE(pool.parallel_for(
        1000, [&](int64_t, int) { all++; }, never.get_token()));
    EXPECT_EQ(all.load(), 1000);
    EXPECT_TRUE(check_cancelled(never.get_token(), "loop").ok());
  }
}

TEST(ThreadPool, AlreadyStoppedLoopRunsNothing) {
  ThreadPool pool(2);
  std::stop_source source;
  source.request_stop();
  std::atomic<int> ran{0};
  EXPECT_FALSE(pool.parallel_for(
      50, [&](int64_t, int) { ran++; }, source.get_token()));
  EXPECT_FALSE(pool.parallel_for(
      1, [&](int64_t, int) { ran++; }, source.get_token()));
  EXPECT_EQ(ran.load(), 0);
  const Status status = check_cancelled(source.get_token(), "block 3");
  EXPECT_EQ(status.message(), "block 3: cancelled");
}

}  // namespace
}  // namespace ringmaster
