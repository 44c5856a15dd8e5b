// attention/masks.h: which keys a query may see, decided from global positions and sequence ids.
//
// Masks are never computed from local indices: every token carries its position within its
// sequence (0 at <bos>) and the id of its sequence (record), so the same rule holds in one
// process, in a ring step, in a zigzag or striped shard and in a decode step. The rules are
// MODEL.md's: for query position p and key position s of the same sequence, a key is hidden when
//   causal                     s > p
//   window w, causal           p - s >= w          (with the causal rule)
//   window w, bidirectional    |p - s| >= w
//   group n (FIT local)        floor(s / n) != floor(p / n)
// and always when the key belongs to another sequence. Rules combine by "hidden if any says so".
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace ringmaster::attention {

struct MaskSpec {
  bool causal = false;
  int64_t window = 0;  // 0: no sliding window; else w >= 1
  int64_t group = 0;   // 0: no FIT local groups; else n >= 1

  static MaskSpec none() { return {}; }
  static MaskSpec causal_mask() { return {.causal = true}; }
  std::string to_string() const;  // "causal window=512"
};

// The positions of a block of tokens. `pos[i]` is token i's position within its sequence;
// `seq[i]` its sequence id. An empty `seq` means every token is in sequence 0.
// Borrowed: the spans must outlive the call that receives them.
struct Positions {
  std::span<const int64_t> pos;
  std::span<const int32_t> seq;

  int64_t size() const { return static_cast<int64_t>(pos.size()); }
  int32_t seq_of(int64_t i) const { return seq.empty() ? 0 : seq[static_cast<size_t>(i)]; }
};

// True when the key at (s, s_seq) is hidden from the query at (p, p_seq).
inline bool is_hidden(const MaskSpec& mask, int64_t p, int32_t p_seq, int64_t s, int32_t s_seq) {
  if (p_seq != s_seq) return true;
  if (mask.causal && s > p) return true;
  if (mask.window > 0) {
    const int64_t distance = p - s;
    if (distance >= mask.window) return true;
    if (!mask.causal && -distance >= mask.window) return true;
  }
  if (mask.group > 0 && s / mask.group != p / mask.group) return true;
  return false;
}

// The positions s of p's own record that is_hidden leaves visible to p: exactly [lo, hi]. Every
// mask here cuts one interval, which lets the kernel mask a row of consecutive keys with two
// fills instead of one is_hidden call per key. Positions are >= 0.
struct VisibleRange {
  int64_t lo = 0, hi = 0;
};
inline VisibleRange visible_range(const MaskSpec& mask, int64_t p) {
  VisibleRange r{0, std::numeric_limits<int64_t>::max() / 4};
  if (mask.causal) r.hi = p;
  if (mask.window > 0) {
    r.lo = std::max(r.lo, p - mask.window + 1);
    if (!mask.causal) r.hi = std::min(r.hi, p + mask.window - 1);
  }
  if (mask.group > 0) {
    const int64_t first = p / mask.group * mask.group;
    r.lo = std::max(r.lo, first);
    r.hi = std::min(r.hi, first + mask.group - 1);
  }
  return r;
}

// The extent of a tile of tokens, enough to decide a whole tile pair at once.
struct TileExtent {
  int64_t min_pos = 0, max_pos = -1;
  int32_t min_seq = 0, max_seq = -1;

  bool empty() const { return max_pos < min_pos; }
};

// Computes the extent of tokens [begin, end) of `tokens`.
TileExtent tile_extent(const Positions& tokens, int64_t begin, int64_t end);

enum class TileVisibility { kHidden, kPartial, kVisible };

// Classifies a (query tile, key tile) pair: kHidden when no query sees any key (the kernel skips
// it without computing), kVisible when every query sees every key (no per-element mask), and
// kPartial otherwise. Conservative: it may answer kPartial for a pair that is in fact one of the
// other two, never the reverse.
TileVisibility classify_tile(const MaskSpec& mask, const TileExtent& q, const TileExtent& k);

}  // namespace ringmaster::attention
