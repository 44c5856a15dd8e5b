// CancellableComm: transfers pass through unchanged; once the shard's stop is requested a wait in
// progress ends within a poll slice with kCancelled, and nothing new starts; an unstopped wait
// still ends at its own deadline, as the inner backend reports it.
#include "comm/cancellable_comm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

#include "comm/local_comm.h"
#include "tests/testing/time_slack.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(CancellableComm, PassesTransfersThrough) {
  auto group = LocalComm::make_local_group(2, milliseconds(5000));
  std::stop_source source;
  CancellableComm a(*group[0], source.get_token()), b(*group[1], source.get_token());
  EXPECT_EQ(b.rank(), 1);
  EXPECT_EQ(b.size(), 2);
  EXPECT_EQ(b.step_timeout(), milliseconds(5000));
  const std::vector<std::byte> out = testing::pattern(0, 1, 0, 64);
  std::vector<std::byte> in(64);
  StatusOr<Request> recv = b.irecv(0, in, Tag{2, 5, 1});
  StatusOr<Request> send = a.isend(1, out, Tag{2, 5, 1});
  ASSERT_TRUE(recv.ok() && send.ok());
  EXPECT_TRUE(send->wait(step_deadline(a)).ok());
  EXPECT_TRUE(recv->wait(step_deadline(b)).ok());
  EXPECT_EQ(in, out);
}

TEST(CancellableComm, StopEndsAWaitInProgress) {
  auto group = LocalComm::make_local_group(2, milliseconds(30000));
  std::stop_source source;
  CancellableComm comm(*group[0], source.get_token());
  std::vector<std::byte> in(16);
  StatusOr<Request> recv = comm.irecv(1, in, Tag{0, 7, 1});  // rank 1 never sends
  ASSERT_TRUE(recv.ok());
  std::atomic<bool> waiting{false};
  Status status;
  steady_clock::time_point ended;
  std::thread waiter([&] {
    waiting = true;
    status = recv->wait(steady_clock::now() + milliseconds(30000));
    ended = steady_clock::now();
  });
  while (!waiting) std::this_thread::yield();
  const auto stopped_at = steady_clock::now();
  source.request_stop();
  waiter.join();
  EXPECT_EQ(status.code(), StatusCode::kCancelled) << status.to_string();
  EXPECT_NE(status.message().find("rank 0 receiving from rank 1 (layer 0 step 7 kind 1)"),
            std::string::npos)
      << status.to_string();
  // A slice is 10 ms; the bound leaves room for a loaded machine.
  EXPECT_LT(ended - stopped_at, ringmaster::testing::slack(milliseconds(500)));
}

TEST(CancellableComm, NothingStartsAfterTheStop) {
  auto group = LocalComm::make_local_group(2, milliseconds(1000));
  std::stop_source source;
  CancellableComm comm(*group[1], source.get_token());
  source.request_stop();
  std::vector<std::byte> buffer(8);
  EXPECT_EQ(comm.isend(0, buffer, Tag{}).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(comm.irecv(0, buffer, Tag{}).status().code(), StatusCode::kCancelled);
}

TEST(CancellableComm, UnstoppedWaitEndsAtItsDeadline) {
  auto group = LocalComm::make_local_group(2, milliseconds(1000));
  std::stop_source source;
  CancellableComm comm(*group[0], source.get_token());
  std::vector<std::byte> in(16);
  StatusOr<Request> recv = comm.irecv(1, in, Tag{0, 3, 1});
  ASSERT_TRUE(recv.ok());
  const auto start = steady_clock::now();
  const Status status = recv->wait(start + milliseconds(100));
  // Not at the first 10 ms slice: the slices are invisible to the caller.
  EXPECT_GE(steady_clock::now() - start, milliseconds(100));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.to_string();
  EXPECT_NE(status.message().find("rank 1"), std::string::npos) << status.to_string();
}

}  // namespace
}  // namespace ringmaster::comm
