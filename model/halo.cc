#include "model/halo.h"

#include <algorithm>

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

namespace {

// Which of this rank's rows each peer needs and which rows each peer sends here, in peer order.
struct Exchange {
  std::vector<Ranges> send_to, recv_from;
  int64_t n_halo = 0;
};

Exchange plan_exchange(const ShardContext& ctx, const KeySpan& span) {
  const comm::PartitionPlan& plan = *ctx.plan;
  const int world = ctx.comm->size(), rank = ctx.comm->rank();
  const Ranges own = plan.ranges_of(rank);
  const Ranges mine_needed = halo_of(plan, rank, span);
  Exchange e{std::vector<Ranges>(static_cast<size_t>(world)),
             std::vector<Ranges>(static_cast<size_t>(world)), count(mine_needed)};
  for (int p = 0; p < world; ++p) {
    if (p == rank) continue;
    e.send_to[p] = intersect(halo_of(plan, p, span), own);
    e.recv_from[p] = intersect(mine_needed, plan.ranges_of(p));
  }
  return e;
}

}  // namespace

HaloKeys halo_keys(const ShardContext& ctx, const KeySpan& span, int64_t kv_heads, int64_t head_dim,
                   DType dtype) {
  const Exchange e = plan_exchange(ctx, span);
  const int64_t rows = ctx.num_local() + e.n_halo;
  HaloKeys keys{Tensor::empty({rows, kv_heads, head_dim}, dtype),
                Tensor::empty({rows, kv_heads, head_dim}, dtype), ctx.pos, ctx.seq, 0};
  std::vector<int64_t> halo_tokens;
  for (const Ranges& ranges : e.recv_from) {
    for (const TokenRange& r : ranges) {
      for (int64_t t = r.begin; t < r.end; ++t) halo_tokens.push_back(t);
    }
  }
  std::vector<int64_t> halo_pos;
  std::vector<int32_t> halo_seq;
  ctx.layout->positions_of(halo_tokens, halo_pos, halo_seq);
  keys.pos.insert(keys.pos.end(), halo_pos.begin(), halo_pos.end());
  keys.seq.insert(keys.seq.end(), halo_seq.begin(), halo_seq.end());
  return keys;
}

Status exchange_halo(const ShardContext& ctx, const KeySpan& span, uint32_t layer, HaloKeys& keys) {
  const Exchange e = plan_exchange(ctx, span);
  const int64_t n_local = ctx.num_local();
  const auto row_bytes =
      static_cast<size_t>(keys.k.dim(1) * keys.k.dim(2)) * dtype_size(keys.k.dtype());
  std::vector<size_t> send_bytes, recv_bytes;
  for (size_t p = 0; p < e.send_to.size(); ++p) {
    send_bytes.push_back(static_cast<size_t>(count(e.send_to[p])) * row_bytes);
    recv_bytes.push_back(static_cast<size_t>(count(e.recv_from[p])) * row_bytes);
  }
  keys.bytes_received = 2 * e.n_halo * static_cast<int64_t>(row_bytes);

  // Rows of my tokens that peers need, packed in peer order; local row of a stream index by
  // binary search in my (increasing) token list.
  for (auto [kind, rows] : {std::pair{kHaloKeyKind, &keys.k}, std::pair{kHaloValueKind, &keys.v}}) {
    const auto* base = static_cast<const std::byte*>(rows->raw());
    std::vector<std::byte> packed;
    for (const Ranges& ranges : e.send_to) {
      for (const TokenRange& r : ranges) {
        for (int64_t t = r.begin; t < r.end; ++t) {
          const auto local = static_cast<size_t>(
              std::lower_bound(ctx.tokens.begin(), ctx.tokens.end(), t) - ctx.tokens.begin());
          packed.insert(packed.end(), base + local * row_bytes, base + (local + 1) * row_bytes);
        }
      }
    }
    auto* halo_rows =
        static_cast<std::byte*>(rows->mutable_raw()) + static_cast<size_t>(n_local) * row_bytes;
    // Only K/V rows travel (exact sizes): their positions come from ctx.layout, never a peer.
    RM_RETURN_IF_ERROR(
        comm::all_to_all_v(*ctx.comm, std::span<const std::byte>(packed), send_bytes,
                           std::span(halo_rows, static_cast<size_t>(e.n_halo) * row_bytes),
                           recv_bytes, comm::Tag{layer, 0, kind}));
  }
  return ok_status();
}

}  // namespace ringmaster::model
