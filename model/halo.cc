#include "model/halo.h"

#include <algorithm>
#include <cstring>

#include "comm/collectives.h"

namespace ringmaster::model {
namespace {

using comm::TokenRange;
using Ranges = std::vector<TokenRange>;
constexpr uint8_t kHaloKeyKind = 20, kHaloValueKind = 21;

// Sorted, non-overlapping, non-empty.
Ranges normalize(Ranges ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const TokenRange& a, const TokenRange& b) { return a.begin < b.begin; });
  Ranges out;
  for (const TokenRange& r : ranges) {
    if (r.size() <= 0) continue;
    if (!out.empty() && r.begin <= out.back().end) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

Ranges intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const TokenRange r{std::max(a[i].begin, b[j].begin), std::min(a[i].end, b[j].end)};
    if (r.size() > 0) out.push_back(r);
    (a[i].end < b[j].end) ? ++i : ++j;
  }
  return out;
}

Ranges subtract(const Ranges& a, const Ranges& b) {
  Ranges out;
  size_t j = 0;
  for (TokenRange r : a) {
    while (j < b.size() && b[j].end <= r.begin) ++j;
    for (size_t k = j; k < b.size() && b[k].begin < r.end; ++k) {
      if (b[k].begin > r.begin) out.push_back({r.begin, b[k].begin});
      r.begin = std::max(r.begin, b[k].end);
    }
    if (r.size() > 0) out.push_back(r);
  }
  return out;
}

// Stream tokens rank `rank` needs as keys but does not own.
Ranges halo_of(const comm::PartitionPlan& plan, int rank, const KeySpan& span) {
  const Ranges own = plan.ranges_of(rank);
  Ranges wanted;
  for (const TokenRange& r : own) wanted.push_back(span(r));
  return subtract(normalize(std::move(wanted)), own);
}

int64_t count(const Ranges& ranges) {
  int64_t n = 0;
  for (const TokenRange& r : ranges) n += r.size();
  return n;
}

}  // namespace

KeySpan window_key_span(const comm::RecordLayout& layout, int64_t window, bool causal) {
  return [&layout, window, causal](const TokenRange& q) -> TokenRange {
    if (q.size() <= 0) return q;
    const int64_t first_record_start = layout.start(layout.record_of(q.begin));
    const int64_t last_record_end = layout.start(layout.record_of(q.end - 1) + 1);
    return {std::max(first_record_start, q.begin - (window - 1)),
            causal ? q.end : std::min(last_record_end, q.end + (window - 1))};
  };
}

KeySpan group_key_span(const comm::RecordLayout& layout, int64_t group) {
  return [&layout, group](const TokenRange& q) -> TokenRange {
    if (q.size() <= 0) return q;
    const int first = layout.record_of(q.begin), last = layout.record_of(q.end - 1);
    const int64_t first_pos = q.begin - layout.start(first);
    const int64_t last_pos = q.end - 1 - layout.start(last);
    return {layout.start(first) + first_pos / group * group,
            std::min(layout.start(last) + (last_pos / group + 1) * group, layout.start(last + 1))};
  };
}

StatusOr<HaloKeys> gather_halo(const ShardContext& ctx, const Tensor& k, const Tensor& v,
                               const KeySpan& span, uint32_t layer) {
  const comm::PartitionPlan& plan = *ctx.plan;
  const int world = ctx.comm->size(), rank = ctx.comm->rank();
  const int64_t row = k.dim(1) * k.dim(2);
  const auto row_bytes = static_cast<size_t>(row) * sizeof(float);
  const Ranges own = plan.ranges_of(rank);
  const Ranges mine_needed = halo_of(plan, rank, span);

  // What I send to each peer and what I receive from each, in peer order.
  std::vector<Ranges> send_to(static_cast<size_t>(world)), recv_from(static_cast<size_t>(world));
  std::vector<size_t> send_bytes, recv_bytes;
  for (int p = 0; p < world; ++p) {
    if (p != rank) {
      send_to[p] = intersect(halo_of(plan, p, span), own);
      recv_from[p] = intersect(mine_needed, plan.ranges_of(p));
    }
    send_bytes.push_back(static_cast<size_t>(count(send_to[p])) * row_bytes);
    recv_bytes.push_back(static_cast<size_t>(count(recv_from[p])) * row_bytes);
  }
  const int64_t n_local = ctx.num_local(), n_halo = count(mine_needed);

  HaloKeys keys{Tensor::empty({n_local + n_halo, k.dim(1), k.dim(2)}, DType::kF32),
                Tensor::empty({n_local + n_halo, k.dim(1), k.dim(2)}, DType::kF32), ctx.pos,
                ctx.seq, 0};
  std::memcpy(keys.k.data<float>(), k.data<float>(), k.bytes());
  std::memcpy(keys.v.data<float>(), v.data<float>(), v.bytes());
  std::vector<int64_t> halo_tokens;
  for (const Ranges& ranges : recv_from) {
    for (const TokenRange& r : ranges) {
      for (int64_t t = r.begin; t < r.end; ++t) halo_tokens.push_back(t);
    }
  }
  std::vector<int64_t> halo_pos;
  std::vector<int32_t> halo_seq;
  ctx.layout->positions_of(halo_tokens, halo_pos, halo_seq);
  keys.pos.insert(keys.pos.end(), halo_pos.begin(), halo_pos.end());
  keys.seq.insert(keys.seq.end(), halo_seq.begin(), halo_seq.end());
  keys.bytes_received = 2 * n_halo * static_cast<int64_t>(row_bytes);

  // Rows of my tokens that peers need, packed in peer order; local row of a stream index by
  // binary search in my (increasing) token list.
  for (auto [source, kind, dest] :
       {std::tuple{&k, kHaloKeyKind, &keys.k}, std::tuple{&v, kHaloValueKind, &keys.v}}) {
    std::vector<float> packed;
    for (const Ranges& ranges : send_to) {
      for (const TokenRange& r : ranges) {
        for (int64_t t = r.begin; t < r.end; ++t) {
          const auto local =
              std::lower_bound(ctx.tokens.begin(), ctx.tokens.end(), t) - ctx.tokens.begin();
          const float* src = source->data<float>() + local * row;
          packed.insert(packed.end(), src, src + row);
        }
      }
    }
    float* halo_rows = dest->data<float>() + n_local * row;
    // Only K/V rows travel (exact sizes): their positions come from ctx.layout, never a peer.
    RM_RETURN_IF_ERROR(comm::all_to_all_v(
        *ctx.comm, std::as_bytes(std::span(packed)), send_bytes,
        std::as_writable_bytes(std::span(halo_rows, static_cast<size_t>(n_halo * row))), recv_bytes,
        comm::Tag{layer, 0, kind}));
  }
  return keys;
}

}  // namespace ringmaster::model
