#include "attention/masks.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace ringmaster::attention {
namespace {

TEST(Masks, RulesOfModelMd) {
  const MaskSpec causal{.causal = true};
  EXPECT_FALSE(is_hidden(causal, 5, 0, 5, 0));
  EXPECT_TRUE(is_hidden(causal, 5, 0, 6, 0));
  EXPECT_TRUE(is_hidden(MaskSpec::none(), 5, 0, 5, 1));  // another sequence

  const MaskSpec window_causal{.causal = true, .window = 3};
  EXPECT_FALSE(is_hidden(window_causal, 10, 0, 8, 0));  // p - s = 2 < 3
  EXPECT_TRUE(is_hidden(window_causal, 10, 0, 7, 0));   // p - s = 3
  const MaskSpec window{.window = 3};
  EXPECT_FALSE(is_hidden(window, 10, 0, 12, 0));
  EXPECT_TRUE(is_hidden(window, 10, 0, 13, 0));  // up to 2w - 1 = 5 keys: 8..12

  const MaskSpec group{.group = 4};
  EXPECT_FALSE(is_hidden(group, 5, 0, 7, 0));
  EXPECT_TRUE(is_hidden(group, 5, 0, 8, 0));
  EXPECT_TRUE(is_hidden(group, 4, 0, 3, 0));
  const MaskSpec group_causal{.causal = true, .group = 4};
  EXPECT_TRUE(is_hidden(group_causal, 5, 0, 6, 0));
}

// classify_tile may only say kHidden or kVisible when every pair agrees.
TEST(Masks, TileClassificationIsConservative) {
  std::mt19937 rng(11);
  const std::vector<MaskSpec> masks = {MaskSpec::none(),
                                       {.causal = true},
                                       {.window = 5},
                                       {.causal = true, .window = 5},
                                       {.group = 8},
                                       {.causal = true, .group = 8},
                                       {.causal = true, .window = 3, .group = 8}};
  std::uniform_int_distribution<int64_t> start(0, 40);
  std::uniform_int_distribution<int> len(1, 12), seq(0, 2), coin(0, 3);
  for (int trial = 0; trial < 3000; ++trial) {
    const MaskSpec& mask = masks[static_cast<size_t>(trial) % masks.size()];
    auto make = [&](std::vector<int64_t>& pos, std::vector<int32_t>& seqs) {
      const int n = len(rng);
      const int64_t p0 = start(rng);
      const bool mixed = coin(rng) == 0;
      const int32_t s0 = seq(rng);
      for (int i = 0; i < n; ++i) {
        pos.push_back(p0 + i * (coin(rng) == 0 ? 2 : 1));
        seqs.push_back(mixed ? seq(rng) : s0);
      }
    };
    std::vector<int64_t> qp, kp;
    std::vector<int32_t> qs, ks;
    make(qp, qs);
    make(kp, ks);
    const Positions q{qp, qs}, k{kp, ks};
    bool any_hidden = false, any_visible = false;
    for (int64_t i = 0; i < q.size(); ++i) {
      for (int64_t j = 0; j < k.size(); ++j) {
        const bool hidden = is_hidden(mask, qp[i], qs[i], kp[j], ks[j]);
        any_hidden |= hidden;
        any_visible |= !hidden;
      }
    }
    const TileVisibility v =
        classify_tile(mask, tile_extent(q, 0, q.size()), tile_extent(k, 0, k.size()));
    if (v == TileVisibility::kHidden) {
      ASSERT_FALSE(any_visible) << mask.to_string();
    }
    if (v == TileVisibility::kVisible) {
      ASSERT_FALSE(any_hidden) << mask.to_string();
    }
  }
}

TEST(Masks, SimpleCausalTilesAreDecided) {
  std::vector<int64_t> early = {0, 1, 2, 3}, late = {8, 9, 10, 11};
  const Positions e{early, {}}, l{late, {}};
  const MaskSpec causal{.causal = true};
  EXPECT_EQ(classify_tile(causal, tile_extent(e, 0, 4), tile_extent(l, 0, 4)),
            TileVisibility::kHidden);
  EXPECT_EQ(classify_tile(causal, tile_extent(l, 0, 4), tile_extent(e, 0, 4)),
            TileVisibility::kVisible);
  EXPECT_EQ(classify_tile(causal, tile_extent(l, 0, 4), tile_extent(l, 0, 4)),
            TileVisibility::kPartial);
}

}  // namespace
}  // namespace ringmaster::attention

namespace ringmaster::attention {
namespace {

// The kernel's two-fill masking relies on visible_range being exactly is_hidden's complement
// within one record.
TEST(Masks, VisibleRangeIsExactlyWhatIsHiddenLeaves) {
  for (const bool causal : {true, false}) {
    for (const int64_t window : {0, 1, 3, 8}) {
      for (const int64_t group : {0, 1, 4, 5}) {
        const MaskSpec mask{.causal = causal, .window = window, .group = group};
        for (int64_t p = 0; p < 40; ++p) {
          const VisibleRange range = visible_range(mask, p);
          for (int64_t s = 0; s < 60; ++s) {
            const bool visible = s >= range.lo && s <= range.hi;
            ASSERT_EQ(visible, !is_hidden(mask, p, 0, s, 0))
                << "causal " << causal << " window " << window << " group " << group << " p " << p
                << " s " << s;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ringmaster::attention
