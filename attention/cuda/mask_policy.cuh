// attention/cuda/mask_policy.cuh: the block kernel's mask variants, as policy types.
//
// block_kernel.cu takes one of these as a template argument (STYLE.md's policy types):
//   NoMask        every key visible: no mask and one sequence on both sides; only the kernel's
//                 key tail is masked, and no position is read.
//   PositionMask  attention/masks.h's rules from global positions and sequence ids: the query at
//                 (p, seq) sees exactly the keys of its sequence with position in
//                 visible_range(mask, p) = [lo, hi], and whole key tiles that the mask hides
//                 from a whole query tile are skipped (tile_hidden).
// Everything here is __host__ __device__ and pure, so the host unit test checks it against
// masks.h's is_hidden and classify_tile without a GPU. Positions are >= 0 (masks.h).
#pragma once

#include <cstdint>

#include "attention/cuda/block_kernel.cuh"
#include "attention/softmax_state.h"  // RM_HOST_DEVICE

namespace ringmaster::attention::kernel {

struct NoMask {
  static constexpr bool kUsesPositions = false;
  struct Row {};
  RM_HOST_DEVICE static Row row(const AttendParams&, int64_t) { return {}; }
  RM_HOST_DEVICE static bool visible(const Row&, const int64_t*, const int32_t*, int) {
    return true;
  }
};

struct PositionMask {
  static constexpr bool kUsesPositions = true;
  // What query row q may see: keys of sequence `seq` with positions in [lo, hi].
  struct Row {
    int64_t lo, hi;
    int32_t seq;
  };
  // visible_range (masks.h) of query q; rows at or past q_len get an empty range.
  RM_HOST_DEVICE static Row row(const AttendParams& p, int64_t q) {
    if (q >= p.q_len) return {1, 0, 0};
    const int64_t pos = p.q_pos[q];
    Row r{0, INT64_MAX / 4, p.q_seq ? p.q_seq[q] : 0};
    if (p.causal) r.hi = pos;
    if (p.window > 0) {
      const int64_t lo = pos - p.window + 1;
      r.lo = lo > r.lo ? lo : r.lo;
      const int64_t hi = pos + p.window - 1;
      if (!p.causal && hi < r.hi) r.hi = hi;
    }
    if (p.group > 0) {
      const int64_t first = pos / p.group * p.group;
      const int64_t last = first + p.group - 1;
      r.lo = first > r.lo ? first : r.lo;
      r.hi = last < r.hi ? last : r.hi;
    }
    return r;
  }
  // Whether key `col` of a tile, staged as (k_pos[col], k_seq[col]), is visible to row r.
  RM_HOST_DEVICE static bool visible(const Row& r, const int64_t* k_pos, const int32_t* k_seq,
                                     int col) {
    return k_seq[col] == r.seq && k_pos[col] >= r.lo && k_pos[col] <= r.hi;
  }
};

// Position and sequence extent of a tile of tokens; max < min means empty. long long and int,
// not int64_t and int32_t, so the kernel can reduce it with __shfl_xor_sync overloads.
struct Extent {
  long long min_pos = INT64_MAX, max_pos = INT64_MIN;
  int min_seq = INT32_MAX, max_seq = INT32_MIN;

  RM_HOST_DEVICE void include(int64_t pos, int32_t seq) {
    min_pos = pos < min_pos ? pos : min_pos;
    max_pos = pos > max_pos ? pos : max_pos;
    min_seq = seq < min_seq ? seq : min_seq;
    max_seq = seq > max_seq ? seq : max_seq;
  }
  RM_HOST_DEVICE bool empty() const { return max_pos < min_pos; }
};

// True when no query of extent q sees any key of extent k: the kHidden answer of classify_tile
// (attention/masks.cc), rule for rule. Position rules only bound pairs when each tile holds one
// sequence; with several, only disjoint sequence ranges hide the pair.
RM_HOST_DEVICE inline bool tile_hidden(const AttendParams& p, const Extent& q, const Extent& k) {
  if (q.empty() || k.empty()) return true;
  if (q.max_seq < k.min_seq || k.max_seq < q.min_seq) return true;
  if (q.min_seq != q.max_seq || k.min_seq != k.max_seq) return false;
  if (p.causal && k.min_pos > q.max_pos) return true;
  if (p.window > 0) {
    if (q.min_pos - k.max_pos >= p.window) return true;
    if (!p.causal && k.min_pos - q.max_pos >= p.window) return true;
  }
  if (p.group > 0 &&
      (k.max_pos / p.group < q.min_pos / p.group || q.max_pos / p.group < k.min_pos / p.group)) {
    return true;
  }
  return false;
}

}  // namespace ringmaster::attention::kernel
