// GroupComm: a subset of LocalComm's ranks addressed as a communicator of its own, as the
// hybrid's Ulysses groups and ring groups use it; a collective over two disjoint groups at once.
#include "comm/group_comm.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "comm/collectives.h"
#include "comm/local_comm.h"

namespace ringmaster::comm {
namespace {

// 4 ranks as the two strided groups {0, 2} and {1, 3}: each all_gathers its inner rank, and
// gets its own group's members in group order, nothing from the other group.
TEST(GroupComm, RenumbersPeersAndKeepsGroupsApart) {
  auto inner = LocalComm::make_local_group(4, std::chrono::milliseconds(5000));
  std::vector<std::vector<int32_t>> got(4);
  std::vector<Status> statuses(4);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      GroupComm group(*inner[static_cast<size_t>(r)], {r % 2, r % 2 + 2});
      EXPECT_EQ(group.rank(), r / 2);
      EXPECT_EQ(group.size(), 2);
      const int32_t mine = r;
      got[static_cast<size_t>(r)].resize(2);
      statuses[static_cast<size_t>(r)] =
          all_gather(group, std::as_bytes(std::span(&mine, 1)),
                     std::as_writable_bytes(std::span(got[static_cast<size_t>(r)])), Tag{1, 0, 9});
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 4; ++r) {
    EXPECT_TRUE(statuses[static_cast<size_t>(r)].ok())
        << statuses[static_cast<size_t>(r)].to_string();
    EXPECT_EQ(got[static_cast<size_t>(r)], (std::vector<int32_t>{r % 2, r % 2 + 2}))
        << "rank " << r;
  }
}

TEST(GroupComm, PeerOutsideTheGroupIsInvalidArgument) {
  auto inner = LocalComm::make_local_group(3, std::chrono::milliseconds(1000));
  GroupComm group(*inner[1], {1, 2});
  std::vector<std::byte> buffer(4);
  EXPECT_EQ(group.isend(2, buffer, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(group.irecv(-1, buffer, Tag{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(group.inner_rank(1), 2);
  EXPECT_EQ(group.step_timeout(), inner[1]->step_timeout());
}

}  // namespace
}  // namespace ringmaster::comm
