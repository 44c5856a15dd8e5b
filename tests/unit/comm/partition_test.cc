#include "comm/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace ringmaster::comm {
namespace {

constexpr PlanKind kAllKinds[] = {PlanKind::kContiguous, PlanKind::kZigzag, PlanKind::kStriped};

PartitionPlan make_plan(PlanKind kind, int64_t num_tokens, int world, int64_t align = 1) {
  StatusOr<PartitionPlan> plan = PartitionPlan::make(kind, num_tokens, world, align);
  RM_CHECK(plan.ok()) << plan.status().to_string();
  return *plan;
}

TEST(PartitionPlan, EveryTokenOwnedExactlyOnce) {
  for (PlanKind kind : kAllKinds) {
    for (int64_t num_tokens : {0, 1, 5, 17, 64, 1000, 1023}) {
      for (int world : {1, 2, 3, 4, 7}) {
        for (int64_t align : {1, 4, 16}) {
          SCOPED_TRACE(std::string(plan_name(kind)) + " L=" + std::to_string(num_tokens) +
                       " P=" + std::to_string(world) + " align=" + std::to_string(align));
          const PartitionPlan plan = make_plan(kind, num_tokens, world, align);
          std::vector<int> owners(static_cast<size_t>(num_tokens), 0);
          int64_t total = 0;
          int64_t largest = 0;
          for (int r = 0; r < world; ++r) {
            const std::vector<int64_t> tokens = plan.tokens_of(r);
            ASSERT_EQ(static_cast<int64_t>(tokens.size()), plan.num_local(r));
            for (size_t i = 0; i < tokens.size(); ++i) {
              ASSERT_GE(tokens[i], 0);
              ASSERT_LT(tokens[i], num_tokens);
              if (i > 0) {
                ASSERT_LT(tokens[i - 1], tokens[i]) << "local order is increasing";
              }
              owners[static_cast<size_t>(tokens[i])]++;
              ASSERT_EQ(plan.owner_of(tokens[i]), r) << "token " << tokens[i];
            }
            total += plan.num_local(r);
            largest = std::max(largest, plan.num_local(r));
          }
          EXPECT_EQ(total, num_tokens);
          EXPECT_EQ(plan.max_local(), largest);
          for (int64_t i = 0; i < num_tokens; ++i) {
            ASSERT_EQ(owners[static_cast<size_t>(i)], 1) << "token " << i;
          }
        }
      }
    }
  }
}

TEST(PartitionPlan, ContiguousGivesChunkRToRankR) {
  const PartitionPlan plan = make_plan(PlanKind::kContiguous, 10, 3);  // chunks of 4
  ASSERT_EQ(plan.ranges_of(0).size(), 1u);
  EXPECT_EQ(plan.ranges_of(0)[0].begin, 0);
  EXPECT_EQ(plan.ranges_of(0)[0].end, 4);
  EXPECT_EQ(plan.ranges_of(1)[0].begin, 4);
  EXPECT_EQ(plan.ranges_of(1)[0].end, 8);
  EXPECT_EQ(plan.ranges_of(2)[0].begin, 8);
  EXPECT_EQ(plan.ranges_of(2)[0].end, 10);  // the last chunk is short
}

TEST(PartitionPlan, ZigzagGivesChunksRAnd2PMinus1MinusR) {
  const int world = 4;
  const PartitionPlan plan = make_plan(PlanKind::kZigzag, 16, world);  // 8 chunks of 2
  for (int r = 0; r < world; ++r) {
    const std::vector<TokenRange> ranges = plan.ranges_of(r);
    ASSERT_EQ(ranges.size(), 2u) << "rank " << r;
    EXPECT_EQ(ranges[0].begin, 2 * r);
    EXPECT_EQ(ranges[0].end, 2 * r + 2);
    EXPECT_EQ(ranges[1].begin, 2 * (2 * world - 1 - r));
    EXPECT_EQ(ranges[1].end, 2 * (2 * world - 1 - r) + 2);
  }
  // Balanced causal work: every rank owns one early and one late chunk of equal size.
  for (int r = 0; r < world; ++r) EXPECT_EQ(plan.num_local(r), 4);
}

TEST(PartitionPlan, StripedDealsStripesRoundRobin) {
  const int world = 3;
  const int64_t align = 4;
  const PartitionPlan plan = make_plan(PlanKind::kStriped, 50, world, align);
  for (int r = 0; r < world; ++r) {
    for (int64_t token : plan.tokens_of(r)) {
      EXPECT_EQ((token / align) % world, r) << "token " << token;
    }
  }
  const PartitionPlan single = make_plan(PlanKind::kStriped, 7, 2);
  EXPECT_EQ(single.tokens_of(0), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(single.tokens_of(1), (std::vector<int64_t>{1, 3, 5}));
}

TEST(PartitionPlan, RangesStartOnAlignedBoundaries) {
  for (PlanKind kind : kAllKinds) {
    for (int64_t align : {3, 8, 32}) {
      const int64_t num_tokens = 1000;
      const PartitionPlan plan = make_plan(kind, num_tokens, 3, align);
      for (int r = 0; r < 3; ++r) {
        for (const TokenRange& range : plan.ranges_of(r)) {
          EXPECT_EQ(range.begin % align, 0) << plan_name(kind) << " align " << align;
          EXPECT_TRUE(range.end % align == 0 || range.end == num_tokens)
              << plan_name(kind) << " align " << align << " end " << range.end;
        }
      }
    }
  }
}

TEST(PartitionPlan, SmallSequencesLeaveRanksEmpty) {
  const PartitionPlan contiguous = make_plan(PlanKind::kContiguous, 3, 4);
  EXPECT_EQ(contiguous.num_local(0), 1);
  EXPECT_EQ(contiguous.num_local(3), 0);
  EXPECT_TRUE(contiguous.ranges_of(3).empty()) << "empty ranges are left out";

  // Alignment can leave whole ranks empty: 10 tokens in groups of 8 fill two ranks at most.
  const PartitionPlan aligned = make_plan(PlanKind::kContiguous, 10, 4, 8);
  EXPECT_EQ(aligned.num_local(0), 8);
  EXPECT_EQ(aligned.num_local(1), 2);
  EXPECT_EQ(aligned.num_local(2), 0);
  EXPECT_EQ(aligned.num_local(3), 0);

  const PartitionPlan none = make_plan(PlanKind::kZigzag, 0, 3);
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(none.tokens_of(r).empty());
  EXPECT_EQ(none.max_local(), 0);
}

// A hybrid's ring runs over the grouped plan: ring rank g must own exactly what the Ulysses
// group of ranks [gU, (g+1)U) owns, in increasing order, and for zigzag the pair of chunks g
// and 2R-1-g of the ring's R ranks (the layout its balance rests on).
TEST(PartitionPlan, GroupedOwnsWhatItsGroupOwns) {
  for (PlanKind kind : kAllKinds) {
    for (int64_t num_tokens : {0, 5, 64, 1001}) {
      for (const auto& [world, group] : {std::pair{4, 2}, {4, 1}, {4, 4}, {6, 3}, {6, 2}}) {
        SCOPED_TRACE(std::string(plan_name(kind)) + " L=" + std::to_string(num_tokens) +
                     " P=" + std::to_string(world) + " U=" + std::to_string(group));
        const PartitionPlan plan = make_plan(kind, num_tokens, world, 4);
        const StatusOr<PartitionPlan> grouped = plan.grouped(group);
        ASSERT_TRUE(grouped.ok()) << grouped.status().to_string();
        EXPECT_EQ(grouped->world(), world / group);
        EXPECT_EQ(grouped->kind(), kind);
        for (int g = 0; g < world / group; ++g) {
          std::vector<int64_t> want;
          for (int r = g * group; r < (g + 1) * group; ++r) {
            for (int64_t t : plan.tokens_of(r)) want.push_back(t);
          }
          std::sort(want.begin(), want.end());
          EXPECT_EQ(grouped->tokens_of(g), want) << "ring rank " << g;
        }
      }
    }
  }
  const PartitionPlan zigzag = make_plan(PlanKind::kZigzag, 80, 4);
  const std::vector<TokenRange> ranges = zigzag.grouped(2)->ranges_of(0);
  ASSERT_EQ(ranges.size(), 2u);  // chunks 0 and 3 of 4 (20 tokens each)
  EXPECT_EQ(ranges[0].begin, 0);
  EXPECT_EQ(ranges[0].end, 20);
  EXPECT_EQ(ranges[1].begin, 60);
  EXPECT_EQ(ranges[1].end, 80);
  EXPECT_EQ(zigzag.grouped(3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zigzag.grouped(0).status().code(), StatusCode::kInvalidArgument);
}

TEST(PartitionPlan, RejectsBadArguments) {
  EXPECT_EQ(PartitionPlan::make(PlanKind::kContiguous, -1, 2).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionPlan::make(PlanKind::kZigzag, 10, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionPlan::make(PlanKind::kStriped, 10, 2, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PartitionPlan::make(PlanKind::kStriped, 10, -3).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(PartitionPlan, PlanNamesRoundTrip) {
  for (PlanKind kind : kAllKinds) {
    StatusOr<PlanKind> parsed = parse_plan(plan_name(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  StatusOr<PlanKind> bad = parse_plan("diagonal");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("diagonal"), std::string::npos);
}

}  // namespace
}  // namespace ringmaster::comm
