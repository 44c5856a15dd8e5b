// LocalComm's own behaviour beyond the conformance suite: dead ranks (fault injection).
#include "comm/local_comm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <latch>
#include <thread>

#include "comm/collectives.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm {
namespace {

constexpr std::chrono::milliseconds kStepTimeout{10000};

LocalComm& local(std::unique_ptr<Communicator>& comm) { return dynamic_cast<LocalComm&>(*comm); }

// A peer that dies while we wait is reported at once as kUnavailable naming it, not after the
// deadline.
TEST(LocalComm, WaitOnRankThatDiesIsUnavailable) {
  auto group = LocalComm::make_local_group(3, kStepTimeout);
  std::vector<std::byte> in(8);
  StatusOr<Request> recv = group[0]->irecv(1, in, Tag{1, 0, 1});
  ASSERT_TRUE(recv.ok());
  std::latch waiting(1);
  Status status;
  std::chrono::steady_clock::duration waited{};
  std::thread waiter([&] {
    waiting.count_down();
    const auto start = std::chrono::steady_clock::now();
    status = recv->wait(start + kStepTimeout);
    waited = std::chrono::steady_clock::now() - start;
  });
  waiting.wait();
  local(group[1]).mark_dead();
  waiter.join();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.to_string();
  EXPECT_NE(status.message().find("rank 1 is dead"), std::string::npos) << status.to_string();
  EXPECT_LT(waited, kStepTimeout / 2);
}

TEST(LocalComm, MessagesSentBeforeDeathStayReceivable) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  const std::vector<std::byte> out = testing::pattern(1, 0, 0, 16);
  StatusOr<Request> send = group[1]->isend(0, out, Tag{2, 0, 1});
  ASSERT_TRUE(send.ok());
  local(group[1]).mark_dead();

  std::vector<std::byte> in(16);
  StatusOr<Request> delivered = group[0]->irecv(1, in, Tag{2, 0, 1});
  ASSERT_TRUE(delivered.ok());
  EXPECT_TRUE(delivered->wait(step_deadline(*group[0])).ok());
  EXPECT_EQ(in, out);

  StatusOr<Request> never = group[0]->irecv(1, in, Tag{2, 0, 2});
  ASSERT_TRUE(never.ok()) << "a dead peer is reported by wait, not irecv";
  EXPECT_TRUE(never->test());
  EXPECT_EQ(never->wait(step_deadline(*group[0])).code(), StatusCode::kUnavailable);
}

TEST(LocalComm, DeadRankCannotSendOrReceiveAndCannotBeSentTo) {
  auto group = LocalComm::make_local_group(3, kStepTimeout);
  local(group[2]).mark_dead();
  std::vector<std::byte> buffer(4);
  EXPECT_EQ(group[0]->isend(2, buffer, Tag{}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(group[2]->isend(0, buffer, Tag{}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(group[2]->irecv(0, buffer, Tag{}).status().code(), StatusCode::kUnavailable);
  // Live ranks still talk to each other.
  StatusOr<Request> recv = group[1]->irecv(0, buffer, Tag{});
  ASSERT_TRUE(recv.ok());
  ASSERT_TRUE(group[0]->isend(1, buffer, Tag{}).ok());
  EXPECT_TRUE(recv->wait(step_deadline(*group[1])).ok());
}

// A collective with a dead member fails on the survivors with kUnavailable, not by timing out.
TEST(LocalComm, CollectiveWithDeadRankFailsFast) {
  auto group = LocalComm::make_local_group(3, kStepTimeout);
  local(group[2]).mark_dead();
  group[2].reset();  // a dead rank calls nothing
  const auto start = std::chrono::steady_clock::now();
  std::vector<Status> statuses(2);
  std::vector<std::thread> threads;
  for (size_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::vector<std::byte> mine(4, std::byte(r));
      std::vector<std::byte> all(12);
      statuses[r] = all_gather(*group[r], mine, all, Tag{3, 0, 1});
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : statuses) EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kStepTimeout / 2);
}

TEST(LocalComm, RequestsMayOutliveTheirCommunicator) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  std::vector<std::byte> in(4);
  StatusOr<Request> recv = group[0]->irecv(1, in, Tag{});
  ASSERT_TRUE(recv.ok());
  const std::vector<std::byte> out(4, std::byte{7});
  ASSERT_TRUE(group[1]->isend(0, out, Tag{}).ok());
  group.clear();
  EXPECT_TRUE(recv->wait(std::chrono::steady_clock::now()).ok());
  EXPECT_EQ(in, out);
}

// Every payload byte moves through the group's copy function (how a CUDA build moves device
// memory between ranks sharing one GPU): both for a receive already posted and for a message
// queued before its receive; a failing copy fails the transfer.
std::atomic<int> copies{0};
Status counting_copy(void* dst, const void* src, size_t bytes) {
  copies.fetch_add(1);
  std::memcpy(dst, src, bytes);
  return ok_status();
}
Status failing_copy(void*, const void*, size_t) { return internal_error("copy refused"); }

TEST(LocalComm, PayloadsMoveThroughTheInjectedCopy) {
  copies = 0;
  auto group = LocalComm::make_local_group(2, kStepTimeout, counting_copy);
  const std::vector<std::byte> out = {std::byte{1}, std::byte{2}, std::byte{3}};
  std::vector<std::byte> posted(3), queued(3);
  StatusOr<Request> recv = group[1]->irecv(0, posted, Tag{1, 0, 1});
  ASSERT_TRUE(recv.ok());
  ASSERT_TRUE(group[0]->isend(1, out, Tag{1, 0, 1}).ok());
  ASSERT_TRUE(recv->wait(std::chrono::steady_clock::now() + kStepTimeout).ok());
  EXPECT_EQ(posted, out);
  EXPECT_EQ(copies.load(), 1);
  ASSERT_TRUE(group[0]->isend(1, out, Tag{1, 1, 1}).ok());  // queued: copied into the mailbox
  StatusOr<Request> late = group[1]->irecv(0, queued, Tag{1, 1, 1});
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(late->wait(std::chrono::steady_clock::now() + kStepTimeout).ok());
  EXPECT_EQ(queued, out);
  EXPECT_EQ(copies.load(), 3);

  auto broken = LocalComm::make_local_group(2, kStepTimeout, failing_copy);
  EXPECT_EQ(broken[0]->isend(1, out, Tag{1, 0, 1}).status().code(), StatusCode::kInternal);
  StatusOr<Request> refused = broken[1]->irecv(0, posted, Tag{1, 2, 1});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(broken[0]->isend(1, out, Tag{1, 2, 1}).status().code(), StatusCode::kOk);
  EXPECT_EQ(refused->wait(std::chrono::steady_clock::now() + kStepTimeout).code(),
            StatusCode::kInternal);
}

}  // namespace
}  // namespace ringmaster::comm
