#include "attention/masks.h"

#include <algorithm>

namespace ringmaster::attention {

std::string MaskSpec::to_string() const {
  std::string out = causal ? "causal" : "bidirectional";
  if (window > 0) out += " window=" + std::to_string(window);
  if (group > 0) out += " group=" + std::to_string(group);
  return out;
}

TileExtent tile_extent(const Positions& tokens, int64_t begin, int64_t end) {
  TileExtent e;
  if (begin >= end) return e;
  e.min_pos = e.max_pos = tokens.pos[static_cast<size_t>(begin)];
  e.min_seq = e.max_seq = tokens.seq_of(begin);
  for (int64_t i = begin + 1; i < end; ++i) {
    const int64_t p = tokens.pos[static_cast<size_t>(i)];
    const int32_t s = tokens.seq_of(i);
    e.min_pos = std::min(e.min_pos, p);
    e.max_pos = std::max(e.max_pos, p);
    e.min_seq = std::min(e.min_seq, s);
    e.max_seq = std::max(e.max_seq, s);
  }
  return e;
}

TileVisibility classify_tile(const MaskSpec& mask, const TileExtent& q, const TileExtent& k) {
  if (q.empty() || k.empty()) return TileVisibility::kHidden;
  if (q.max_seq < k.min_seq || k.max_seq < q.min_seq) return TileVisibility::kHidden;
  const bool one_sequence = q.min_seq == q.max_seq && k.min_seq == k.max_seq;
  // Position rules only bound pairs of one sequence; with several sequences mixed in a tile the
  // position ranges overlap arbitrarily, so only the sequence test above may hide the tile.
  if (one_sequence) {
    if (mask.causal && k.min_pos > q.max_pos) return TileVisibility::kHidden;
    if (mask.window > 0) {
      if (q.min_pos - k.max_pos >= mask.window) return TileVisibility::kHidden;
      if (!mask.causal && k.min_pos - q.max_pos >= mask.window) return TileVisibility::kHidden;
    }
    if (mask.group > 0 && (k.max_pos / mask.group < q.min_pos / mask.group ||
                           q.max_pos / mask.group < k.min_pos / mask.group)) {
      return TileVisibility::kHidden;
    }
  }
  if (!one_sequence) return TileVisibility::kPartial;
  if (mask.causal && k.max_pos > q.min_pos) return TileVisibility::kPartial;
  if (mask.window > 0) {
    if (q.max_pos - k.min_pos >= mask.window) return TileVisibility::kPartial;
    if (!mask.causal && k.max_pos - q.min_pos >= mask.window) return TileVisibility::kPartial;
  }
  if (mask.group > 0) {
    const int64_t g = q.min_pos / mask.group;
    if (q.max_pos / mask.group != g || k.min_pos / mask.group != g || k.max_pos / mask.group != g) {
      return TileVisibility::kPartial;
    }
  }
  return TileVisibility::kVisible;
}

}  // namespace ringmaster::attention
