#include "comm/partition.h"

#include <algorithm>
#include <cmath>

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

namespace {

// Weights that are all equal cut exactly as no weights do.
bool all_equal(std::span<const double> weights) {
  return std::all_of(weights.begin(), weights.end(),
                     [&](double w) { return w == weights.front(); });
}

// Stripe lengths in units of `align`, one per rank: round(k w_r / min w) for the smallest k in
// 1, 2, 4, 8, 16 that brings every rank within 5% of its exact share (16 otherwise).
std::vector<int64_t> stripe_units(std::span<const double> weights) {
  const double least = *std::min_element(weights.begin(), weights.end());
  std::vector<int64_t> units;
  for (int64_t k = 1; k <= 16; k *= 2) {
    units.clear();
    bool close = true;
    for (double w : weights) {
      const double exact = static_cast<double>(k) * w / least;
      units.push_back(std::max<int64_t>(1, std::llround(exact)));
      close = close && std::abs(static_cast<double>(units.back()) - exact) <= 0.05 * exact;
    }
    if (close) break;
  }
  return units;
}

// The group boundary of the record holding stream index `target` nearest to it (a record's start
// and end are boundaries). REQUIRES: 0 <= target < layout.num_tokens().
int64_t nearest_boundary(const RecordLayout& layout, int64_t target, int64_t align) {
  const int r = layout.record_of(target);
  const int64_t pos = target - layout.start(r);
  const int64_t down = pos / align * align;
  const int64_t up = std::min(down + align, layout.length(r));
  return layout.start(r) + (pos - down < up - pos ? down : up);
}

}  // namespace

Status check_rank_weights(std::span<const double> weights, int world) {
  if (weights.empty()) return ok_status();
  if (static_cast<int64_t>(weights.size()) != world) {
    return invalid_argument(std::to_string(weights.size()) + " rank weights for " +
                            std::to_string(world) + " ranks (one per rank)");
  }
  for (size_t r = 0; r < weights.size(); ++r) {
    if (!std::isfinite(weights[r]) || weights[r] <= 0) {
      return invalid_argument("rank " + std::to_string(r) + "'s weight " +
                              std::to_string(weights[r]) + " is not a finite number > 0");
    }
  }
  const auto [least, most] = std::minmax_element(weights.begin(), weights.end());
  if (*most > *least * double(int64_t{1} << 20)) {
    return invalid_argument("rank weights from " + std::to_string(*least) + " to " +
                            std::to_string(*most) + " differ by more than 2^20");
  }
  return ok_status();
}

StatusOr<PartitionPlan> PartitionPlan::make(PlanKind kind, int64_t num_tokens, int world,
                                            int64_t align, std::span<const double> weights) {
  if (num_tokens < 0)
    return invalid_argument("partition of " + std::to_string(num_tokens) + " tokens");
  if (num_tokens == 0) {
    if (world < 1 || align < 1)
      return invalid_argument("partition over " + std::to_string(world) + " ranks");
    RM_RETURN_IF_ERROR(check_rank_weights(weights, world));
    return PartitionPlan(kind, world, {0});
  }
  return make_for_records(kind, RecordLayout::single(num_tokens), world, align, weights);
}

StatusOr<PartitionPlan> PartitionPlan::make_for_records(PlanKind kind, const RecordLayout& layout,
                                                        int world, int64_t align,
                                                        std::span<const double> weights) {
  const int64_t num_tokens = layout.num_tokens();
  if (world < 1 || align < 1) {
    return invalid_argument("partition of " + std::to_string(num_tokens) + " tokens over " +
                            std::to_string(world) + " ranks aligned to " + std::to_string(align));
  }
  RM_RETURN_IF_ERROR(check_rank_weights(weights, world));
  if (!weights.empty() && !all_equal(weights)) {
    return PartitionPlan(kind, world, weighted_bounds(kind, layout, world, align, weights));
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

std::vector<int64_t> PartitionPlan::weighted_bounds(PlanKind kind, const RecordLayout& layout,
                                                    int world, int64_t align,
                                                    std::span<const double> weights) {
  std::vector<int64_t> bounds = {0};
  if (kind == PlanKind::kStriped) {
    // Stripe c belongs to rank c mod P, as unweighted, and is u_{c mod P} align tokens long.
    const std::vector<int64_t> units = stripe_units(weights);
    for (int r = 0; r < layout.num_records(); ++r) {
      int64_t p = 0;
      while (p < layout.length(r)) {
        const auto c = static_cast<int64_t>(bounds.size()) - 1;
        p = std::min(layout.length(r), p + units[static_cast<size_t>(c % world)] * align);
        bounds.push_back(layout.start(r) + p);
      }
    }
    return bounds;
  }
  // Chunk weights in stream order: contiguous w_0 .. w_{P-1}; zigzag the same, then mirrored.
  std::vector<double> chunk_weights(weights.begin(), weights.end());
  if (kind == PlanKind::kZigzag)
    chunk_weights.insert(chunk_weights.end(), weights.rbegin(), weights.rend());
  double total = 0;
  for (double w : chunk_weights) total += w;
  const int64_t num_tokens = layout.num_tokens();
  double cumulative = 0;
  for (size_t c = 0; c + 1 < chunk_weights.size(); ++c) {
    cumulative += chunk_weights[c];
    const int64_t target = std::llround(static_cast<double>(num_tokens) * (cumulative / total));
    const int64_t cut = target >= num_tokens ? num_tokens : nearest_boundary(layout, target, align);
    bounds.push_back(std::max(cut, bounds.back()));
  }
  bounds.push_back(num_tokens);
  return bounds;
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
