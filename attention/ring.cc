// Ring attention: K/V blocks travel round the ring while each rank attends to the block it holds.
//
// Step schedule, P ranks, rank r, for s = 0 .. P-1:
//   holds    the K/V block (and its positions) that originated on src = (r - s) mod P
//   posts    (s < P-1) isend(block -> rank r+1), irecv(next block <- rank r-1), tag (layer, s)
//   computes attend_block(Q_r, block of src), in slices of query rows with the transfers
//            polled between slices, and merges it into the running (out, lse)
//   waits    (s < P-1) for both transfers, then swaps the current and next buffers
// The send and the compute only read the current buffer, so they overlap; the receive fills
// the other buffer, which nobody reads until the swap (double buffering). The mask comes from
// global positions, so every plan works unchanged: a step the mask hides entirely (causal,
// contiguous, src > r) is skipped; half-visible zigzag steps compute only the visible tiles,
// because the kernel skips hidden tile pairs.
// The merge order is fixed by the schedule, so results are bit-identical run to run.
#include "attention/ring.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/stopwatch.h"

namespace ringmaster::attention {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint8_t kRingBlockKind = 1;

// Rows per compute slice between two polls of the ring's transfers.
constexpr int64_t kSliceRows = 1024;

Positions slice_of(const Positions& p, int64_t begin, int64_t end) {
  const auto b = static_cast<size_t>(begin), n = static_cast<size_t>(end - begin);
  return {p.pos.subspan(b, n), p.seq.empty() ? p.seq : p.seq.subspan(b, n)};
}

// One rank's K, V, positions and sequence ids, packed in one buffer so a step is one message.
class KvBlock {
 public:
  KvBlock(int64_t max_tokens, int64_t kv_heads, int64_t head_dim)
      : kv_row_(kv_heads * head_dim),
        kv_heads_(kv_heads),
        head_dim_(head_dim),
        storage_(static_cast<size_t>(bytes_for(max_tokens))) {}

  int64_t bytes_for(int64_t tokens) const {
    return tokens * (2 * kv_row_ * int64_t{sizeof(float)} + int64_t{sizeof(int64_t)} +
                     int64_t{sizeof(int32_t)});
  }

  void fill(const Tensor& k, const Tensor& v, const Positions& positions) {
    tokens_ = k.dim(0);
    std::memcpy(k_data(), k.data<float>(), k.bytes());
    std::memcpy(v_data(), v.data<float>(), v.bytes());
    std::memcpy(pos_data(), positions.pos.data(), positions.pos.size_bytes());
    for (int64_t i = 0; i < tokens_; ++i) seq_data()[i] = positions.seq_of(i);
  }

  // Sizes the block for `tokens` rows (before a receive).
  void resize(int64_t tokens) { tokens_ = tokens; }

  comm::ConstView bytes() const {
    return {storage_.data(), static_cast<size_t>(bytes_for(tokens_))};
  }
  comm::MutableView mutable_bytes() {
    return {storage_.data(), static_cast<size_t>(bytes_for(tokens_))};
  }

  Tensor k() const {
    return Tensor::wrap(static_cast<const void*>(k_data()), shape(), DType::kF32);
  }
  Tensor v() const {
    return Tensor::wrap(static_cast<const void*>(v_data()), shape(), DType::kF32);
  }
  Positions positions() const {
    return {{pos_data(), static_cast<size_t>(tokens_)}, {seq_data(), static_cast<size_t>(tokens_)}};
  }

 private:
  // Layout: K rows, V rows, positions (int64), sequence ids (int32); offsets depend on tokens_.
  Shape shape() const { return {tokens_, kv_heads_, head_dim_}; }
  float* k_data() const {
    return reinterpret_cast<float*>(const_cast<std::byte*>(storage_.data()));
  }
  float* v_data() const { return k_data() + tokens_ * kv_row_; }
  int64_t* pos_data() const { return reinterpret_cast<int64_t*>(v_data() + tokens_ * kv_row_); }
  int32_t* seq_data() const { return reinterpret_cast<int32_t*>(pos_data() + tokens_); }

  int64_t kv_row_, kv_heads_, head_dim_;
  int64_t tokens_ = 0;
  std::vector<std::byte> storage_;
};

Status check_inputs(const comm::Communicator& comm, const comm::PartitionPlan& plan,
                    const Tensor& q, const Tensor& k, const Tensor& v, const Positions& positions) {
  const int64_t n_local = plan.num_local(comm.rank());
  if (plan.world() != comm.size()) {
    return invalid_argument("ring: plan for " + std::to_string(plan.world()) + " ranks, " +
                            std::to_string(comm.size()) + " in the communicator");
  }
  for (const Tensor* t : {&q, &k, &v}) {
    if (t->rank() != 3 || t->dim(0) != n_local || t->dtype() != DType::kF32) {
      return invalid_argument("ring: rank " + std::to_string(comm.rank()) + " owns " +
                              std::to_string(n_local) + " tokens but got " + t->to_string());
    }
  }
  if (positions.size() != n_local) {
    return invalid_argument("ring: " + std::to_string(positions.size()) + " positions for " +
                            std::to_string(n_local) + " tokens");
  }
  return ok_status();
}

}  // namespace

StatusOr<BlockResult> ring_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                     const Tensor& q, const Tensor& k, const Tensor& v,
                                     const Positions& positions, const MaskSpec& mask,
                                     ThreadPool& pool, uint32_t layer, DistStats* stats) {
  RM_RETURN_IF_ERROR(check_inputs(comm, plan, q, k, v, positions));
  DistStats local_stats;
  DistStats& st = stats ? *stats : local_stats;
  const int world = comm.size(), rank = comm.rank();
  const int next_rank = (rank + 1) % world, prev_rank = (rank + world - 1) % world;

  BlockResult acc = make_empty_result(q.dim(0), q.dim(1), q.dim(2));
  BlockResult part = make_empty_result(q.dim(0), q.dim(1), q.dim(2));
  const TileExtent q_extent = tile_extent(positions, 0, positions.size());
  KvBlock current(plan.max_local(), k.dim(1), k.dim(2));
  KvBlock incoming(plan.max_local(), k.dim(1), k.dim(2));
  current.fill(k, v, positions);

  for (int step = 0; step < world; ++step) {
    const int src = (rank - step + world) % world;
    comm::Request send, recv;
    if (step + 1 < world) {
      const comm::Tag tag{layer, static_cast<uint32_t>(step), kRingBlockKind};
      incoming.resize(plan.num_local((src - 1 + world) % world));
      RM_ASSIGN_OR_RETURN(send, comm.isend(next_rank, current.bytes(), tag));
      RM_ASSIGN_OR_RETURN(recv, comm.irecv(prev_rank, incoming.mutable_bytes(), tag));
      st.bytes_sent += static_cast<int64_t>(current.bytes().size());
    }

    const auto compute_start = Clock::now();
    const Positions kv_positions = current.positions();
    const TileExtent kv_extent = tile_extent(kv_positions, 0, kv_positions.size());
    if (classify_tile(mask, q_extent, kv_extent) != TileVisibility::kHidden) {
      // Query rows in slices, polling the transfers in between: a transport that moves data
      // only when called (UCX without a progress thread) keeps the next block coming.
      const Tensor k_block = current.k(), v_block = current.v();
      for (int64_t begin = 0; begin < q.dim(0); begin += kSliceRows) {
        const int64_t end = std::min(q.dim(0), begin + kSliceRows);
        BlockResult slice{part.out.rows(begin, end), part.lse.rows(begin, end)};
        RM_RETURN_IF_ERROR(attend_block_into(q.rows(begin, end), k_block, v_block,
                                             slice_of(positions, begin, end), kv_positions, mask,
                                             pool, slice));
        send.test();
        recv.test();
      }
      merge_into(acc, part);
    }
    st.compute_s += seconds_since(compute_start);

    if (step + 1 < world) {
      const auto wait_start = Clock::now();
      const comm::Deadline deadline = comm::step_deadline(comm);
      RM_RETURN_IF_ERROR(recv.wait(deadline).with_context(
          "ring step " + std::to_string(step) + " receive from rank " + std::to_string(prev_rank)));
      RM_RETURN_IF_ERROR(send.wait(deadline).with_context(
          "ring step " + std::to_string(step) + " send to rank " + std::to_string(next_rank)));
      st.wait_s += seconds_since(wait_start);
      std::swap(current, incoming);
    }
  }
  return acc;
}

}  // namespace ringmaster::attention
