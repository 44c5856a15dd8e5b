#include "comm/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// --- rank weights: workers of different speeds --------------------------------------------

const std::vector<std::vector<double>> kWeightSets = {
    {1, 3}, {2, 1}, {1, 2, 3, 4}, {4, 1, 1}, {0.5, 1.7, 1, 3.25}, {1, 1, 1, 8, 1, 2, 1}};

// Owners of every token of `plan`, each counted: every token is owned exactly once, each rank's
// tokens come in increasing order, and owner_of agrees.
void expect_covers_once(const PartitionPlan& plan) {
  std::vector<int> owners(static_cast<size_t>(plan.num_tokens()), 0);
  int64_t total = 0, largest = 0;
  for (int r = 0; r < plan.world(); ++r) {
    const std::vector<int64_t> tokens = plan.tokens_of(r);
    ASSERT_EQ(static_cast<int64_t>(tokens.size()), plan.num_local(r));
    for (size_t i = 0; i < tokens.size(); ++i) {
      ASSERT_GE(tokens[i], 0);
      ASSERT_LT(tokens[i], plan.num_tokens());
      if (i > 0) {
        ASSERT_LT(tokens[i - 1], tokens[i]);
      }
      owners[static_cast<size_t>(tokens[i])]++;
      ASSERT_EQ(plan.owner_of(tokens[i]), r) << "token " << tokens[i];
    }
    total += plan.num_local(r);
    largest = std::max(largest, plan.num_local(r));
  }
  EXPECT_EQ(total, plan.num_tokens());
  EXPECT_EQ(plan.max_local(), largest);
  for (size_t i = 0; i < owners.size(); ++i) ASSERT_EQ(owners[i], 1) << "token " << i;
}

TEST(WeightedPartition, EveryTokenOwnedExactlyOnce) {
  for (PlanKind kind : kAllKinds) {
    for (const std::vector<double>& weights : kWeightSets) {
      const int world = static_cast<int>(weights.size());
      for (int64_t num_tokens : {0, 1, 5, 17, 64, 1000, 1023}) {
        for (int64_t align : {1, 4, 16}) {
          SCOPED_TRACE(std::string(plan_name(kind)) + " L=" + std::to_string(num_tokens) +
                       " P=" + std::to_string(world) + " align=" + std::to_string(align));
          const StatusOr<PartitionPlan> plan =
              PartitionPlan::make(kind, num_tokens, world, align, weights);
          ASSERT_TRUE(plan.ok()) << plan.status().to_string();
          expect_covers_once(*plan);
        }
      }
    }
  }
}

// Shares follow the weights: within one align unit per cut of the exact w_r / sum(w) L
// (contiguous: 2 cuts per rank, zigzag: 4), within one round of stripes for striped.
TEST(WeightedPartition, SharesAreProportionalToWeights) {
  for (PlanKind kind : kAllKinds) {
    for (const std::vector<double>& weights : kWeightSets) {
      const int world = static_cast<int>(weights.size());
      double sum = 0;
      for (double w : weights) sum += w;
      for (int64_t align : {1, 8}) {
        const int64_t num_tokens = 100003;
        SCOPED_TRACE(std::string(plan_name(kind)) + " P=" + std::to_string(world) +
                     " align=" + std::to_string(align));
        const StatusOr<PartitionPlan> plan =
            PartitionPlan::make(kind, num_tokens, world, align, weights);
        ASSERT_TRUE(plan.ok());
        const double slack = kind == PlanKind::kContiguous ? static_cast<double>(align)
                             : kind == PlanKind::kZigzag   ? 2.0 * static_cast<double>(align)
                                                         // striped: a partial last round and
                                                         // 5% rounding of the stripe units
                                                         : 0.05 * num_tokens + 16 * 16 * align;
        for (int r = 0; r < world; ++r) {
          const double exact = static_cast<double>(num_tokens) * weights[r] / sum;
          EXPECT_NEAR(static_cast<double>(plan->num_local(r)), exact, slack) << "rank " << r;
        }
      }
    }
  }
}

// Zigzag keeps its balance: rank r's two chunks are mirror images (equal lengths, centres
// summing to L), so its causal work sum(position) is w_r / sum(w) of the total.
TEST(WeightedPartition, ZigzagChunksMirrorAndBalanceCausalWork) {
  const std::vector<double> weights = {1, 2, 3, 4};
  const int64_t num_tokens = 4000;
  const PartitionPlan plan = *PartitionPlan::make(PlanKind::kZigzag, num_tokens, 4, 1, weights);
  double all_work = 0;
  for (int64_t i = 0; i < num_tokens; ++i) all_work += static_cast<double>(i);
  for (int r = 0; r < 4; ++r) {
    const std::vector<TokenRange> ranges = plan.ranges_of(r);
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].size(), ranges[1].size()) << "rank " << r;
    EXPECT_EQ(ranges[0].begin + ranges[1].end, num_tokens) << "mirror images";
    EXPECT_EQ(ranges[0].size(), 200 * (r + 1));
    double work = 0;
    for (int64_t t : plan.tokens_of(r)) work += static_cast<double>(t);
    EXPECT_NEAR(work / all_work, weights[static_cast<size_t>(r)] / 10, 1e-3) << "rank " << r;
  }
}

TEST(WeightedPartition, CutsStayOnGroupBoundariesOfEachRecord) {
  const RecordLayout layout({300, 41, 517, 10, 1});
  for (PlanKind kind : kAllKinds) {
    for (const std::vector<double>& weights : kWeightSets) {
      const int world = static_cast<int>(weights.size());
      SCOPED_TRACE(std::string(plan_name(kind)) + " P=" + std::to_string(world));
      const StatusOr<PartitionPlan> plan =
          PartitionPlan::make_for_records(kind, layout, world, 16, weights);
      ASSERT_TRUE(plan.ok());
      expect_covers_once(*plan);
      for (int r = 0; r < world; ++r) {
        for (const TokenRange& range : plan->ranges_of(r)) {
          for (int64_t cut : {range.begin, range.end}) {
            if (cut == layout.num_tokens()) continue;
            const int rec = layout.record_of(cut);
            EXPECT_EQ((cut - layout.start(rec)) % 16, 0) << "cut " << cut << " of rank " << r;
          }
        }
      }
    }
  }
}

TEST(WeightedPartition, EqualWeightsGiveTheUnweightedPlan) {
  for (PlanKind kind : kAllKinds) {
    const PartitionPlan plain = make_plan(kind, 1001, 3, 4);
    const std::vector<double> equal = {2.5, 2.5, 2.5};
    const PartitionPlan weighted = *PartitionPlan::make(kind, 1001, 3, 4, equal);
    for (int r = 0; r < 3; ++r) EXPECT_EQ(weighted.tokens_of(r), plain.tokens_of(r));
  }
}

TEST(WeightedPartition, StripesAreProportional) {
  const std::vector<double> weights = {2, 1};
  const PartitionPlan plan = *PartitionPlan::make(PlanKind::kStriped, 12, 2, 2, weights);
  const std::vector<TokenRange> ranges = plan.ranges_of(1);
  ASSERT_EQ(ranges.size(), 2u);  // stripes 4 | 2 | 4 | 2
  EXPECT_EQ(ranges[0].begin, 4);
  EXPECT_EQ(ranges[0].end, 6);
  EXPECT_EQ(plan.num_local(0), 8);
}

// The hybrid's ring over a weighted plan: ring rank g owns what its group owns.
TEST(WeightedPartition, GroupedOwnsWhatItsGroupOwns) {
  const std::vector<double> weights = {1, 2, 3, 4};
  for (PlanKind kind : kAllKinds) {
    const PartitionPlan plan = *PartitionPlan::make(kind, 1001, 4, 4, weights);
    const PartitionPlan grouped = *plan.grouped(2);
    for (int g = 0; g < 2; ++g) {
      std::vector<int64_t> want = plan.tokens_of(2 * g);
      for (int64_t t : plan.tokens_of(2 * g + 1)) want.push_back(t);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(grouped.tokens_of(g), want) << plan_name(kind) << " ring rank " << g;
    }
  }
}

TEST(WeightedPartition, RejectsBadWeights) {
  const std::vector<std::vector<double>> bad = {
      {1}, {1, 2, 3}, {1, 0}, {1, -2}, {1, std::nan("")}, {1, INFINITY}, {1, 1e7}};
  for (const std::vector<double>& weights : bad) {
    const StatusOr<PartitionPlan> plan = PartitionPlan::make(PlanKind::kZigzag, 100, 2, 1, weights);
    EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_NE(check_rank_weights(std::vector<double>{1, 0}, 2).message().find("rank 1"),
            std::string::npos);
}

}  // namespace
}  // namespace ringmaster::comm
