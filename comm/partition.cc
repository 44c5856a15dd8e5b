#include "comm/partition.h"

#include <algorithm>

namespace ringmaster::comm {

StatusOr<PlanKind> parse_plan(std::string_view name) {
  if (name == "contiguous") return PlanKind::kContiguous;
  if (name == "zigzag") return PlanKind::kZigzag;
  if (name == "striped") return PlanKind::kStriped;
  return invalid_argument("unknown plan '" + std::string(name) + "' (contiguous, zigzag, striped)");
}

const char* plan_name(PlanKind kind) {
  switch (kind) {
    case PlanKind::kContiguous:
      return "contiguous";
    case PlanKind::kZigzag:
      return "zigzag";
    case PlanKind::kStriped:
      return "striped";
  }
  return "?";
}

RecordLayout::RecordLayout(std::vector<int64_t> lengths) {
  starts_.reserve(lengths.size() + 1);
  starts_.push_back(0);
  for (int64_t n : lengths) {
    RM_CHECK(n >= 1) << "a record holds at least its <bos>";
    starts_.push_back(starts_.back() + n);
  }
}

int RecordLayout::record_of(int64_t token) const {
  RM_CHECK(token >= 0 && token < num_tokens()) << "token " << token << " of " << num_tokens();
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), token);
  return static_cast<int>(it - starts_.begin()) - 1;
}

void RecordLayout::positions_of(std::span<const int64_t> tokens, std::vector<int64_t>& pos,
                                std::vector<int32_t>& seq) const {
  pos.clear();
  seq.clear();
  int record = 0;
  for (int64_t t : tokens) {
    // Tokens usually come in increasing runs: step forward before searching.
    if (t < start(record) || t >= start(record + 1)) record = record_of(t);
    pos.push_back(t - start(record));
    seq.push_back(record);
  }
}

StatusOr<PartitionPlan> PartitionPlan::make(PlanKind kind, int64_t num_tokens, int world,
                                            int64_t align) {
  if (num_tokens < 0)
    return invalid_argument("partition of " + std::to_string(num_tokens) + " tokens");
  if (num_tokens == 0) {
    if (world < 1 || align < 1)
      return invalid_argument("partition over " + std::to_string(world) + " ranks");
    return PartitionPlan(kind, world, {0});
  }
  return make_for_records(kind, RecordLayout::single(num_tokens), world, align);
}

StatusOr<PartitionPlan> PartitionPlan::make_for_records(PlanKind kind, const RecordLayout& layout,
                                                        int world, int64_t align) {
  const int64_t num_tokens = layout.num_tokens();
  if (world < 1 || align < 1) {
    return invalid_argument("partition of " + std::to_string(num_tokens) + " tokens over " +
                            std::to_string(world) + " ranks aligned to " + std::to_string(align));
  }
  std::vector<int64_t> bounds = {0};
  if (kind == PlanKind::kStriped) {
    // Stripes of `align` positions inside each record, dealt round robin.
    for (int r = 0; r < layout.num_records(); ++r) {
      for (int64_t p = align; p < layout.length(r); p += align)
        bounds.push_back(layout.start(r) + p);
      bounds.push_back(layout.start(r + 1));
    }
  } else {
    const int64_t chunks = kind == PlanKind::kZigzag ? 2 * int64_t{world} : world;
    const int64_t even = (num_tokens + chunks - 1) / chunks;
    const int64_t chunk = std::max<int64_t>(1, (even + align - 1) / align) * align;
    for (int64_t c = 1; c <= chunks; ++c) {
      const int64_t target = std::min(num_tokens, c * chunk);
      int64_t cut = num_tokens;
      if (target < num_tokens) {
        // Move the cut forward to the next group boundary of the record it falls in.
        const int r = layout.record_of(target);
        const int64_t pos = target - layout.start(r);
        cut = std::min(layout.start(r) + (pos + align - 1) / align * align, layout.start(r + 1));
      }
      bounds.push_back(std::max(cut, bounds.back()));
    }
  }
  return PartitionPlan(kind, world, std::move(bounds));
}

PartitionPlan::PartitionPlan(PlanKind kind, int world, std::vector<int64_t> bounds)
    : kind_(kind), world_(world), bounds_(std::move(bounds)) {}

std::vector<TokenRange> PartitionPlan::ranges_of(int rank) const {
  std::vector<TokenRange> ranges;
  const auto chunks = static_cast<int64_t>(bounds_.size()) - 1;
  auto add_chunk = [&](int64_t c) {
    const TokenRange r{bounds_[static_cast<size_t>(c)], bounds_[static_cast<size_t>(c + 1)]};
    if (r.size() > 0) ranges.push_back(r);
  };
  switch (kind_) {
    case PlanKind::kContiguous:
      if (rank < chunks) add_chunk(rank);
      break;
    case PlanKind::kZigzag:
      if (rank < chunks) add_chunk(rank);
      if (2 * int64_t{world_} - 1 - rank < chunks) add_chunk(2 * int64_t{world_} - 1 - rank);
      break;
    case PlanKind::kStriped:
      for (int64_t c = rank; c < chunks; c += world_) add_chunk(c);
      break;
  }
  return ranges;
}
int PartitionPlan::owner_of(int64_t token) const {
  // The last chunk that starts at or before `token` and is not empty holds it.
  const auto c = static_cast<int64_t>(std::upper_bound(bounds_.begin(), bounds_.end(), token) -
                                      bounds_.begin()) -
                 1;
  switch (kind_) {
    case PlanKind::kContiguous:
      return static_cast<int>(c);
    case PlanKind::kZigzag:
      return static_cast<int>(c < world_ ? c : 2 * int64_t{world_} - 1 - c);
    case PlanKind::kStriped:
      return static_cast<int>(c % world_);
  }
  return 0;
}

std::vector<int64_t> PartitionPlan::tokens_of(int rank) const {
  std::vector<int64_t> tokens;
  for (const TokenRange& r : ranges_of(rank)) {
    for (int64_t i = r.begin; i < r.end; ++i) tokens.push_back(i);
  }
  return tokens;
}

int64_t PartitionPlan::num_local(int rank) const {
  int64_t n = 0;
  for (const TokenRange& r : ranges_of(rank)) n += r.size();
  return n;
}

int64_t PartitionPlan::max_local() const {
  int64_t n = 0;
  for (int r = 0; r < world_; ++r) n = std::max(n, num_local(r));
  return n;
}

StatusOr<PartitionPlan> PartitionPlan::grouped(int group) const {
  if (group < 1 || world_ % group != 0) {
    return invalid_argument("a group of " + std::to_string(group) + " ranks does not divide " +
                            std::to_string(world_) + " ranks");
  }
  std::vector<int64_t> bounds;
  for (size_t c = 0; c + 1 < bounds_.size(); c += static_cast<size_t>(group)) {
    bounds.push_back(bounds_[c]);
  }
  bounds.push_back(bounds_.back());
  return PartitionPlan(kind_, world_ / group, std::move(bounds));
}

}  // namespace ringmaster::comm
