// The block kernel's mask policies (attention/cuda/mask_policy.cuh) on the host, against
// masks.h: PositionMask's per-key rule equals !is_hidden, and tile_hidden equals classify_tile's
// kHidden and is sound (a hidden tile pair has no visible key). Needs no GPU: these functions are
// __host__ __device__, so the kernel's mask decisions are checked here even where it cannot run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "attention/cuda/mask_policy.cuh"
#include "attention/masks.h"

namespace ringmaster::attention {
namespace {

using kernel::Extent;
using kernel::PositionMask;
using kernel::tile_hidden;

std::vector<MaskSpec> all_masks() {
  std::vector<MaskSpec> masks;
  for (const bool causal : {false, true}) {
    for (const int64_t window : {0, 1, 5, 37, 50}) {
      for (const int64_t group : {0, 1, 16, 64}) masks.push_back({causal, window, group});
    }
  }
  return masks;
}

AttendParams params_for(const MaskSpec& mask, const std::vector<int64_t>& q_pos,
                        const std::vector<int32_t>& q_seq) {
  AttendParams p;
  p.q_pos = q_pos.data();
  p.q_seq = q_seq.empty() ? nullptr : q_seq.data();
  p.q_len = static_cast<int64_t>(q_pos.size());
  p.causal = mask.causal;
  p.window = mask.window;
  p.group = mask.group;
  return p;
}

// A tile of `count` tokens: a run of positions from a random start, sometimes shuffled (zigzag
// and striped shards), in one or several sequences.
void random_tile(int64_t count, std::mt19937& rng, std::vector<int64_t>& pos,
                 std::vector<int32_t>& seq) {
  std::uniform_int_distribution<int64_t> start(0, 300);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<int32_t> seq_id(0, 2);
  const int64_t first = start(rng);
  const int k = kind(rng);
  const int64_t stride = k == 2 ? 3 : 1;
  pos.clear();
  seq.clear();
  for (int64_t i = 0; i < count; ++i) pos.push_back(first + i * stride);
  if (k == 3) std::shuffle(pos.begin(), pos.end(), rng);
  if (k == 1) {
    for (int64_t i = 0; i < count; ++i) seq.push_back(seq_id(rng));
  } else if (k == 2) {
    seq.assign(static_cast<size_t>(count), 1);
  }
}

TEST(CudaMaskPolicy, VisibleEqualsNotHidden) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> position(0, 400);
  std::uniform_int_distribution<int32_t> seq_id(0, 2);
  for (const MaskSpec& mask : all_masks()) {
    SCOPED_TRACE(mask.to_string());
    std::vector<int64_t> q_pos, k_pos;
    std::vector<int32_t> q_seq, k_seq;
    for (int i = 0; i < 200; ++i) {
      q_pos.push_back(position(rng));
      q_seq.push_back(seq_id(rng));
      k_pos.push_back(position(rng));
      k_seq.push_back(seq_id(rng));
    }
    const AttendParams p = params_for(mask, q_pos, q_seq);
    for (int64_t q = 0; q < p.q_len; ++q) {
      const PositionMask::Row row = PositionMask::row(p, q);
      for (int col = 0; col < static_cast<int>(k_pos.size()); ++col) {
        const bool hidden = is_hidden(mask, q_pos[q], q_seq[q], k_pos[col], k_seq[col]);
        ASSERT_EQ(PositionMask::visible(row, k_pos.data(), k_seq.data(), col), !hidden)
            << "query " << q_pos[q] << "/" << q_seq[q] << " key " << k_pos[col] << "/"
            << k_seq[col];
      }
    }
    // Rows past q_len see nothing.
    const PositionMask::Row past = PositionMask::row(p, p.q_len);
    for (int col = 0; col < static_cast<int>(k_pos.size()); ++col) {
      ASSERT_FALSE(PositionMask::visible(past, k_pos.data(), k_seq.data(), col));
    }
  }
}

TEST(CudaMaskPolicy, NullSeqIsSequenceZero) {
  const std::vector<int64_t> q_pos = {5};
  const AttendParams p = params_for(MaskSpec::none(), q_pos, {});
  const PositionMask::Row row = PositionMask::row(p, 0);
  const std::vector<int64_t> k_pos = {3, 3};
  const std::vector<int32_t> k_seq = {0, 1};
  EXPECT_TRUE(PositionMask::visible(row, k_pos.data(), k_seq.data(), 0));
  EXPECT_FALSE(PositionMask::visible(row, k_pos.data(), k_seq.data(), 1));
}

TEST(CudaMaskPolicy, TileHiddenMatchesClassifyTileAndIsSound) {
  std::mt19937 rng(4);
  std::uniform_int_distribution<int64_t> length(1, 64);
  int hidden_pairs = 0;
  for (const MaskSpec& mask : all_masks()) {
    SCOPED_TRACE(mask.to_string());
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int64_t> q_pos, k_pos;
      std::vector<int32_t> q_seq, k_seq;
      random_tile(length(rng), rng, q_pos, q_seq);
      random_tile(length(rng), rng, k_pos, k_seq);
      const Positions q_tokens{q_pos, q_seq}, k_tokens{k_pos, k_seq};
      Extent q_extent, k_extent;
      for (int64_t i = 0; i < q_tokens.size(); ++i) q_extent.include(q_pos[i], q_tokens.seq_of(i));
      for (int64_t i = 0; i < k_tokens.size(); ++i) k_extent.include(k_pos[i], k_tokens.seq_of(i));
      const TileExtent q_cpu = tile_extent(q_tokens, 0, q_tokens.size());
      const TileExtent k_cpu = tile_extent(k_tokens, 0, k_tokens.size());
      ASSERT_EQ(q_extent.min_pos, q_cpu.min_pos);
      ASSERT_EQ(q_extent.max_pos, q_cpu.max_pos);
      ASSERT_EQ(q_extent.min_seq, q_cpu.min_seq);
      ASSERT_EQ(q_extent.max_seq, q_cpu.max_seq);

      const AttendParams p = params_for(mask, q_pos, q_seq);
      const bool hidden = tile_hidden(p, q_extent, k_extent);
      ASSERT_EQ(hidden, classify_tile(mask, q_cpu, k_cpu) == TileVisibility::kHidden);
      hidden_pairs += hidden;
      if (!hidden) continue;
      for (int64_t q = 0; q < q_tokens.size(); ++q) {
        for (int64_t k = 0; k < k_tokens.size(); ++k) {
          ASSERT_TRUE(is_hidden(mask, q_pos[q], q_tokens.seq_of(q), k_pos[k], k_tokens.seq_of(k)))
              << "a skipped tile pair hides query " << q_pos[q] << ", key " << k_pos[k];
        }
      }
    }
  }
  EXPECT_GT(hidden_pairs, 100);                                  // the skip path is exercised
  EXPECT_TRUE(tile_hidden(AttendParams{}, Extent{}, Extent{}));  // empty tiles
}

}  // namespace
}  // namespace ringmaster::attention
