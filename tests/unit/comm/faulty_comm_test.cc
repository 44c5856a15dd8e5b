// FaultyComm: a silent rank's sends complete for it and never arrive, so the peer's wait hits the
// step deadline naming that rank; everything else passes through.
#include "comm/faulty_comm.h"

#include <gtest/gtest.h>

#include <chrono>

#include "comm/local_comm.h"
#include "tests/unit/comm/comm_test_util.h"

namespace ringmaster::comm {
namespace {

constexpr std::chrono::milliseconds kStepTimeout{200};

TEST(FaultyComm, DroppedSendCompletesAndThePeerTimesOutNamingTheSender) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  FaultyComm silent(*group[1], CommFaults{.drop_sends = true});
  EXPECT_EQ(silent.rank(), 1);
  EXPECT_EQ(silent.size(), 2);
  EXPECT_EQ(silent.step_timeout(), kStepTimeout);

  const std::vector<std::byte> out = testing::pattern(1, 0, 0, 16);
  StatusOr<Request> send = silent.isend(0, out, Tag{0, 3, 1});
  ASSERT_TRUE(send.ok()) << send.status().to_string();
  EXPECT_TRUE(send->test());
  EXPECT_TRUE(send->wait(step_deadline(silent)).ok());

  std::vector<std::byte> in(16);
  StatusOr<Request> recv = group[0]->irecv(1, in, Tag{0, 3, 1});
  ASSERT_TRUE(recv.ok());
  const Status status = recv->wait(step_deadline(*group[0]));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.to_string();
  EXPECT_NE(status.message().find("rank 1"), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find("step 3"), std::string::npos) << status.to_string();
}

TEST(FaultyComm, SilentRankStillReceives) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  FaultyComm silent(*group[1], CommFaults{.drop_sends = true});
  const std::vector<std::byte> out = testing::pattern(0, 1, 0, 16);
  ASSERT_TRUE(group[0]->isend(1, out, Tag{0, 0, 1}).ok());
  std::vector<std::byte> in(16);
  StatusOr<Request> recv = silent.irecv(0, in, Tag{0, 0, 1});
  ASSERT_TRUE(recv.ok());
  EXPECT_TRUE(recv->wait(step_deadline(silent)).ok());
  EXPECT_EQ(in, out);
}

TEST(FaultyComm, DroppedSendStillRejectsBadArguments) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  FaultyComm silent(*group[0], CommFaults{.drop_sends = true});
  const std::vector<std::byte> out(8);
  EXPECT_EQ(silent.isend(0, out, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(silent.isend(2, out, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(silent.isend(1, out, Tag{Tag::kMaxLayer + 1, 0, 0}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(FaultyComm, NoFaultsIsTransparent) {
  auto group = LocalComm::make_local_group(2, kStepTimeout);
  FaultyComm wrapped(*group[0], CommFaults{});
  const std::vector<std::byte> out = testing::pattern(0, 1, 0, 16);
  ASSERT_TRUE(wrapped.isend(1, out, Tag{0, 0, 1}).ok());
  std::vector<std::byte> in(16);
  StatusOr<Request> recv = group[1]->irecv(0, in, Tag{0, 0, 1});
  ASSERT_TRUE(recv.ok());
  EXPECT_TRUE(recv->wait(step_deadline(*group[1])).ok());
  EXPECT_EQ(in, out);
}

}  // namespace
}  // namespace ringmaster::comm
