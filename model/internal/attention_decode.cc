#include "model/internal/attention_decode.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "attention/decode_kernel.h"
#include "comm/collectives.h"

namespace ringmaster::model {
namespace {

constexpr uint8_t kDecodeQueryKind = 50, kDecodePartialKind = 51;

comm::Tag step_tag(uint32_t layer, const DecodeStep& step, uint8_t kind) {
  return {layer, step.index & comm::Tag::kMaxStep, kind};
}

std::vector<size_t> byte_counts(const std::vector<int64_t>& rows, int64_t floats_per_row) {
  std::vector<size_t> counts(rows.size());
  for (size_t p = 0; p < rows.size(); ++p) {
    counts[p] = static_cast<size_t>(rows[p] * floats_per_row) * sizeof(float);
  }
  return counts;
}

// Rows of the step each rank runs (its tail rows).
std::vector<int64_t> rows_per_rank(const DecodeStep& step, int world) {
  std::vector<int64_t> rows(static_cast<size_t>(world), 0);
  for (const int t : step.tail) ++rows[static_cast<size_t>(t)];
  return rows;
}

// For each row of the step, its index among the rows of its tail rank.
std::vector<int64_t> index_within_rank(const DecodeStep& step, int world) {
  std::vector<int64_t> next(static_cast<size_t>(world), 0), index(step.tail.size());
  for (size_t i = 0; i < step.tail.size(); ++i)
    index[i] = next[static_cast<size_t>(step.tail[i])]++;
  return index;
}

}  // namespace

void SplitKCache::keep(const ShardContext& ctx, Tensor k, Tensor v) {
  const comm::RecordLayout& layout = *ctx.layout;
  const DecodeStreams& streams = *ctx.streams;
  k_ = std::move(k);
  v_ = std::move(v);
  // A rank's local order is increasing stream index, so a record's rows are one run with
  // increasing positions, and a stream sees a prefix of it.
  std::vector<std::pair<int64_t, int64_t>> record_rows(static_cast<size_t>(layout.num_records()),
                                                       {0, 0});
  for (int64_t i = ctx.num_local() - 1; i >= 0; --i)
    record_rows[static_cast<size_t>(ctx.seq[i])].first = i;
  for (int64_t i = 0; i < ctx.num_local(); ++i)
    record_rows[static_cast<size_t>(ctx.seq[i])].second = i + 1;
  rows_.clear();
  held_.clear();
  for (const DecodeStream& s : streams.streams) {
    auto [begin, end] = record_rows[static_cast<size_t>(s.record)];
    end =
        std::lower_bound(ctx.pos.begin() + begin, ctx.pos.begin() + end, s.base) - ctx.pos.begin();
    rows_.emplace_back(begin, std::max(begin, end));
    // Keys of the stream's prefix [start, start + base) on each rank, from the plan.
    const int64_t first = layout.start(s.record), last = first + s.base;
    std::vector<int64_t>& held = held_.emplace_back(static_cast<size_t>(ctx.comm->size()), 0);
    for (int rank = 0; rank < ctx.comm->size(); ++rank) {
      for (const comm::TokenRange& range : ctx.plan->ranges_of(rank)) {
        held[static_cast<size_t>(rank)] +=
            std::max<int64_t>(0, std::min(range.end, last) - std::max(range.begin, first));
      }
    }
  }
  appended_.assign(streams.size(), KvRows(k_.dim(1), k_.dim(2)));
}

StatusOr<Tensor> SplitKCache::attend(const ShardContext& ctx, const DecodeStep& step,
                                     const Tensor& q, const Tensor& k, const Tensor& v,
                                     uint32_t layer) {
  comm::Communicator& comm = *ctx.comm;
  const int world = comm.size(), me = comm.rank();
  const int64_t heads = q.dim(1), kv_heads = k_.dim(1), hd = k_.dim(2);
  const int64_t qw = heads * hd, kw = kv_heads * hd, row = qw + 2 * kw, nl = step.num_local();
  const std::vector<int64_t> rows = rows_per_rank(step, world);
  const std::vector<int64_t> index = index_within_rank(step, world);
  std::vector<int64_t> first(static_cast<size_t>(world), 0);  // each rank's first row of the step
  std::exclusive_scan(rows.begin(), rows.end(), first.begin(), int64_t{0});

  // 1. Every rank gets every row's q and new k, v.
  std::vector<float> mine(static_cast<size_t>(nl * row));
  for (int64_t j = 0; j < nl; ++j) {
    float* dst = mine.data() + j * row;
    std::memcpy(dst, q.data<float>() + j * qw, qw * sizeof(float));
    std::memcpy(dst + qw, k.data<float>() + j * kw, kw * sizeof(float));
    std::memcpy(dst + qw + kw, v.data<float>() + j * kw, kw * sizeof(float));
  }
  std::vector<float> send(mine.size() * static_cast<size_t>(world));
  for (int p = 0; p < world; ++p)
    std::copy(mine.begin(), mine.end(), send.begin() + p * mine.size());
  std::vector<float> all(static_cast<size_t>(step.size() * row));
  RM_RETURN_IF_ERROR(comm::all_to_all_v(
      comm, comm::as_bytes(std::span<const float>(send)),
      std::vector<size_t>(static_cast<size_t>(world), mine.size() * sizeof(float)),
      comm::as_writable_bytes(std::span(all)), byte_counts(rows, row),
      step_tag(layer, step, kDecodeQueryKind)));
  auto payload = [&](size_t i) {
    return all.data() + (first[static_cast<size_t>(step.tail[i])] + index[i]) * row;
  };

  // 2. The new K/V stays with the rank that holds the fewest keys of the stream.
  for (size_t i = 0; i < step.stream.size(); ++i) {
    std::vector<int64_t>& held = held_[static_cast<size_t>(step.stream[i])];
    const auto owner = std::min_element(held.begin(), held.end()) - held.begin();
    ++held[static_cast<size_t>(owner)];
    if (owner != me) continue;
    appended_[static_cast<size_t>(step.stream[i])].append(payload(i) + qw, payload(i) + qw + kw,
                                                          &step.pos[i], 1);
  }

  // 3. This rank's partial of every row over its keys of the row's stream, packed per tail rank:
  // that rank's rows' outputs, then their lse.
  const int64_t part_row = qw + heads;
  std::vector<float> partials(static_cast<size_t>(step.size() * part_row));
  for (size_t i = 0; i < step.stream.size(); ++i) {
    const auto r = static_cast<size_t>(step.stream[i]);
    const Tensor qi = Tensor::wrap(payload(i), {1, heads, hd}, DType::kF32);
    attention::BlockResult acc = attention::make_empty_result(1, heads, hd);
    const auto [begin, end] = rows_[r];
    // Every cached key of the stream precedes the query: nothing to mask (attend_visible).
    if (end > begin) {
      attention::BlockResult part = attention::make_empty_result(1, heads, hd);
      RM_RETURN_IF_ERROR(attention::attend_visible(qi, k_.rows(begin, end), v_.rows(begin, end),
                                                   *ctx.pool, part, ctx.stop));
      attention::merge_into(acc, part);
    }
    if (!appended_[r].empty()) {
      attention::BlockResult part = attention::make_empty_result(1, heads, hd);
      RM_RETURN_IF_ERROR(attention::attend_visible(qi, appended_[r].k(), appended_[r].v(),
                                                   *ctx.pool, part, ctx.stop));
      attention::merge_into(acc, part);
    }
    const auto t = static_cast<size_t>(step.tail[i]);
    float* base = partials.data() + first[t] * part_row;
    std::memcpy(base + index[i] * qw, acc.out.data<float>(), qw * sizeof(float));
    std::memcpy(base + rows[t] * qw + index[i] * heads, acc.lse.data<float>(),
                heads * sizeof(float));
  }

  // 4. The tail ranks gather their rows' partials and merge them in rank order.
  std::vector<float> gathered(static_cast<size_t>(world * nl * part_row));
  RM_RETURN_IF_ERROR(
      comm::all_to_all_v(comm, comm::as_bytes(std::span<const float>(partials)),
                         byte_counts(rows, part_row), comm::as_writable_bytes(std::span(gathered)),
                         std::vector<size_t>(static_cast<size_t>(world),
                                             static_cast<size_t>(nl * part_row) * sizeof(float)),
                         step_tag(layer, step, kDecodePartialKind)));
  attention::BlockResult merged = attention::make_empty_result(nl, heads, hd);
  for (int p = 0; p < world && nl > 0; ++p) {
    float* base = gathered.data() + p * nl * part_row;
    const attention::BlockResult part{Tensor::wrap(base, {nl, heads, hd}, DType::kF32),
                                      Tensor::wrap(base + nl * qw, {nl, heads}, DType::kF32)};
    attention::merge_into(merged, part);
  }
  return std::move(merged.out);
}

void NearCache::keep(const ShardContext& ctx, const HaloKeys& keys,
                     const FirstVisible& first_visible) {
  const DecodeStreams& streams = *ctx.streams;
  const int64_t kv_heads = keys.k.dim(1), hd = keys.k.dim(2), kw = kv_heads * hd;
  streams_.assign(streams.size(), KvRows(kv_heads, hd));
  // The halo rows follow the own rows: sort by (record, position) to find a stream's rows.
  std::vector<int64_t> order(keys.pos.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  auto before = [&](int64_t a, int32_t seq, int64_t pos) {
    const auto i = static_cast<size_t>(a);
    return keys.seq[i] != seq ? keys.seq[i] < seq : keys.pos[i] < pos;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return before(a, keys.seq[static_cast<size_t>(b)], keys.pos[static_cast<size_t>(b)]);
  });
  for (const int32_t s : streams.tailed_by(ctx.comm->rank())) {
    const DecodeStream& stream = streams[static_cast<size_t>(s)];
    auto lower = [&](int64_t pos) {
      return std::lower_bound(order.begin(), order.end(), pos,
                              [&](int64_t a, int64_t p) { return before(a, stream.record, p); });
    };
    KvRows& rows = streams_[static_cast<size_t>(s)];
    // The cache is f32 (the decode kernel's); bf16 rows (bf16 compute) widen exactly.
    const size_t row_bytes = static_cast<size_t>(kw) * dtype_size(keys.k.dtype());
    std::vector<float> k_row(static_cast<size_t>(kw)), v_row(k_row.size());
    for (auto it = lower(first_visible(stream.base)); it != lower(stream.base); ++it) {
      const auto i = static_cast<size_t>(*it);
      widen_to_f32(keys.k.dtype(), static_cast<const std::byte*>(keys.k.raw()) + i * row_bytes,
                   k_row.data(), k_row.size());
      widen_to_f32(keys.v.dtype(), static_cast<const std::byte*>(keys.v.raw()) + i * row_bytes,
                   v_row.data(), v_row.size());
      rows.append(k_row.data(), v_row.data(), &keys.pos[i], 1);
    }
  }
}

StatusOr<Tensor> NearCache::attend(const ShardContext& ctx, const DecodeStep& step, const Tensor& q,
                                   const Tensor& k, const Tensor& v,
                                   const FirstVisible& first_visible) {
  const int64_t nl = step.num_local(), heads = q.dim(1), hd = q.dim(2);
  const int64_t kw = k.dim(1) * hd, qw = heads * hd;
  Tensor out = Tensor::empty({nl, heads, hd}, DType::kF32);
  for (int64_t j = 0; j < nl; ++j) {
    const size_t i = step.local[static_cast<size_t>(j)];
    KvRows& cache = streams_[static_cast<size_t>(step.stream[i])];
    const int64_t position = step.pos[i];
    cache.append(k.const_data<float>() + j * kw, v.const_data<float>() + j * kw, &position, 1);
    // The cache holds exactly the rows this query sees (rows out of sight were dropped after the
    // previous one), so no mask is needed: the decode kernel reads each K/V row once for all
    // query heads of its KV head, where the block kernel's tiles are sized for long queries.
    attention::BlockResult result = attention::make_empty_result(1, heads, hd);
    RM_RETURN_IF_ERROR(attention::attend_visible(q.rows(j, j + 1), cache.k(), cache.v(), *ctx.pool,
                                                 result, ctx.stop));
    std::memcpy(out.data<float>() + j * qw, result.out.const_data<float>(), qw * sizeof(float));
    cache.drop_before(first_visible(position + 1));
  }
  return out;
}

}  // namespace ringmaster::model
