// Where each rank's pieces of the ATLAS state chain come from and go to (model/atlas_chain.h):
// the zigzag plan's out-and-back chain, records sharing ranks, and the plan errors.
#include "model/atlas_chain.h"

#include <gtest/gtest.h>

#include "comm/local_comm.h"

namespace ringmaster::model {
namespace {

using comm::PartitionPlan;
using comm::PlanKind;

struct Expected {
  int32_t record;
  int64_t first_pos, len;
  int prev_rank, next_rank;
  int64_t hops;
};

std::vector<std::vector<ChainPiece>> pieces_of_every_rank(const comm::RecordLayout& layout,
                                                          PlanKind kind, int world, int64_t align,
                                                          int64_t chunk) {
  auto plan = PartitionPlan::make_for_records(kind, layout, world, align);
  EXPECT_TRUE(plan.ok());
  auto comms = comm::LocalComm::make_local_group(world, std::chrono::milliseconds(1000));
  ThreadPool pool(1);
  std::vector<std::vector<ChainPiece>> out;
  for (int r = 0; r < world; ++r) {
    const ShardContext ctx = make_shard_context(*comms[static_cast<size_t>(r)], *plan, layout, pool,
                                                attention::ContextParallel::kRing);
    auto pieces = chain_pieces(ctx, chunk);
    EXPECT_TRUE(pieces.ok()) << pieces.status().to_string();
    out.push_back(pieces.ok() ? *pieces : std::vector<ChainPiece>{});
  }
  return out;
}

void expect_pieces(const std::vector<ChainPiece>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("piece " + std::to_string(i));
    EXPECT_EQ(got[i].record, want[i].record);
    EXPECT_EQ(got[i].first_pos, want[i].first_pos);
    EXPECT_EQ(got[i].len, want[i].len);
    EXPECT_EQ(got[i].prev_rank, want[i].prev_rank);
    EXPECT_EQ(got[i].next_rank, want[i].next_rank);
    EXPECT_EQ(got[i].hops, want[i].hops);
  }
}

TEST(AtlasChain, ZigzagGoesOutAndBack) {
  // 6 plan chunks of 100: ranks 0 1 2 | 2 1 0. Rank 2's two chunks touch: one piece.
  const auto pieces =
      pieces_of_every_rank(comm::RecordLayout::single(600), PlanKind::kZigzag, 3, 10, 10);
  expect_pieces(pieces[0], {{0, 0, 100, -1, 1, 0}, {0, 500, 100, 1, -1, 5}});
  expect_pieces(pieces[1], {{0, 100, 100, 0, 2, 1}, {0, 400, 100, 2, 0, 4}});
  expect_pieces(pieces[2], {{0, 200, 200, 1, 1, 2}});
}

TEST(AtlasChain, RecordsAreIndependentChains) {
  // Records of 150 and 50 tokens, contiguous over 2 ranks, chunks of 100: rank 0 holds [0, 100)
  // of record 0; rank 1 the rest of record 0 and all of record 1.
  const auto pieces =
      pieces_of_every_rank(comm::RecordLayout({150, 50}), PlanKind::kContiguous, 2, 10, 10);
  expect_pieces(pieces[0], {{0, 0, 100, -1, 1, 0}});
  expect_pieces(pieces[1], {{0, 100, 50, 0, -1, 1}, {1, 0, 50, -1, -1, 0}});
}

TEST(AtlasChain, CutOffTheChunkIsAnError) {
  auto plan =
      PartitionPlan::make_for_records(PlanKind::kContiguous, comm::RecordLayout::single(90), 2, 1);
  ASSERT_TRUE(plan.ok());
  const comm::RecordLayout layout = comm::RecordLayout::single(90);
  auto comms = comm::LocalComm::make_local_group(2, std::chrono::milliseconds(1000));
  ThreadPool pool(1);
  const ShardContext ctx =
      make_shard_context(*comms[0], *plan, layout, pool, attention::ContextParallel::kRing);
  auto pieces = chain_pieces(ctx, 16);  // the cut at 45 is not a multiple of 16
  ASSERT_FALSE(pieces.ok());
  EXPECT_EQ(pieces.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(pieces.status().to_string().find("45"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::model
