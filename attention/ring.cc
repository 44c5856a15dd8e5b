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
// A device backend given host inputs (the data plane moves host memory) computes on its device
// all the same: Q, the partial results and a mirror of the current K/V block live there, the
// block is uploaded once a step (not once per query slice), and only the merged result comes
// back to the host at the end (none does when q was given on the device: it stays there).
#include "attention/ring.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "attention/received_positions.h"
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
// The buffer lives where the ring's inputs live (host or the backend's device); the positions
// are also needed on the host (tile visibility, the backend's arguments), so a device block
// keeps a host copy of them, fetched after each receive (12 bytes a token).
class KvBlock {
 public:
  static StatusOr<KvBlock> make(AttentionBackend& backend, Device where, int64_t max_tokens,
                                int64_t kv_heads, int64_t head_dim) {
    KvBlock block(kv_heads, head_dim);
    // bytes_for is a multiple of 4 (f32 rows, int64 and int32 per token): store it as f32.
    RM_ASSIGN_OR_RETURN(
        block.storage_,
        backend.empty({block.bytes_for(max_tokens) / int64_t{sizeof(float)}}, DType::kF32, where));
    return block;
  }

  int64_t bytes_for(int64_t tokens) const {
    return tokens * (2 * kv_row_ * int64_t{sizeof(float)} + int64_t{sizeof(int64_t)} +
                     int64_t{sizeof(int32_t)});
  }

  Status fill(AttentionBackend& backend, const Tensor& k, const Tensor& v,
              const Positions& positions) {
    tokens_ = k.dim(0);
    std::vector<int32_t> seq(static_cast<size_t>(tokens_));
    for (int64_t i = 0; i < tokens_; ++i) seq[static_cast<size_t>(i)] = positions.seq_of(i);
    RM_RETURN_IF_ERROR(backend.copy(k, this->k()));
    RM_RETURN_IF_ERROR(backend.copy(v, this->v()));
    RM_RETURN_IF_ERROR(backend.copy(
        Tensor::wrap(static_cast<const void*>(positions.pos.data()), {tokens_ * 2}, DType::kI32),
        wrap_at(pos_data(), {tokens_ * 2}, DType::kI32)));
    RM_RETURN_IF_ERROR(
        backend.copy(Tensor::wrap(static_cast<const void*>(seq.data()), {tokens_}, DType::kI32),
                     wrap_at(seq_data(), {tokens_}, DType::kI32)));
    return load_positions(backend);
  }

  // Sizes the block for `tokens` rows (before a receive).
  void resize(int64_t tokens) { tokens_ = tokens; }

  // Brings the positions to the host after a receive; nothing to do for a host block.
  Status load_positions(AttentionBackend& backend) {
    if (on_host()) return ok_status();
    host_pos_.resize(static_cast<size_t>(tokens_));
    host_seq_.resize(static_cast<size_t>(tokens_));
    RM_RETURN_IF_ERROR(backend.copy(
        wrap_at(pos_data(), {tokens_ * 2}, DType::kI32),
        Tensor::wrap(static_cast<void*>(host_pos_.data()), {tokens_ * 2}, DType::kI32)));
    return backend.copy(wrap_at(seq_data(), {tokens_}, DType::kI32),
                        Tensor::wrap(static_cast<void*>(host_seq_.data()), {tokens_}, DType::kI32));
  }

  comm::ConstView bytes() const { return {base(), static_cast<size_t>(bytes_for(tokens_))}; }
  comm::MutableView mutable_bytes() { return {base(), static_cast<size_t>(bytes_for(tokens_))}; }

  Tensor k() const { return wrap_at(k_data(), shape(), DType::kF32); }
  Tensor v() const { return wrap_at(v_data(), shape(), DType::kF32); }
  Positions positions() const {
    const auto n = static_cast<size_t>(tokens_);
    if (!on_host()) return {{host_pos_.data(), n}, {host_seq_.data(), n}};
    return {{pos_data(), n}, {seq_data(), n}};
  }

 private:
  KvBlock(int64_t kv_heads, int64_t head_dim)
      : kv_row_(kv_heads * head_dim), kv_heads_(kv_heads), head_dim_(head_dim) {}

  // Layout: K rows, V rows, positions (int64), sequence ids (int32); offsets depend on tokens_.
  Shape shape() const { return {tokens_, kv_heads_, head_dim_}; }
  bool on_host() const { return storage_.device().is_cpu(); }
  std::byte* base() const { return static_cast<std::byte*>(storage_.mutable_raw()); }
  Tensor wrap_at(void* data, Shape shape, DType dtype) const {
    return Tensor::wrap(data, std::move(shape), dtype, storage_.device());
  }
  float* k_data() const { return reinterpret_cast<float*>(base()); }
  float* v_data() const { return k_data() + tokens_ * kv_row_; }
  int64_t* pos_data() const { return reinterpret_cast<int64_t*>(v_data() + tokens_ * kv_row_); }
  int32_t* seq_data() const { return reinterpret_cast<int32_t*>(pos_data() + tokens_); }

  int64_t kv_row_, kv_heads_, head_dim_;
  int64_t tokens_ = 0;
  Tensor storage_;
  std::vector<int64_t> host_pos_;  // device blocks only: the positions, on the host
  std::vector<int32_t> host_seq_;
};

Status check_inputs(const comm::Communicator& comm, const comm::PartitionPlan& plan,
                    const Tensor& q, const Tensor& k, const Tensor& v, const Positions& positions,
                    Device compute) {
  const int64_t n_local = plan.num_local(comm.rank());
  if (plan.world() != comm.size()) {
    return invalid_argument("ring: plan for " + std::to_string(plan.world()) + " ranks, " +
                            std::to_string(comm.size()) + " in the communicator");
  }
  for (const Tensor* t : {&q, &k, &v}) {
    const bool placed = t->device() == k.device() || (t == &q && t->device() == compute);
    if (t->rank() != 3 || t->dim(0) != n_local || t->dtype() != DType::kF32 || !placed) {
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
                                     AttentionBackend& backend, uint32_t layer, DistStats* stats,
                                     const comm::RecordLayout* layout) {
  RM_RETURN_IF_ERROR(check_inputs(comm, plan, q, k, v, positions, backend.device()));
  DistStats local_stats;
  DistStats& st = stats ? *stats : local_stats;
  const int world = comm.size(), rank = comm.rank();
  const int next_rank = (rank + 1) % world, prev_rank = (rank + world - 1) % world;

  // The ring's buffers live where k and v do; the compute and its results where the backend
  // computes (the same place, but for a device backend given host K/V: then the K/V block is
  // mirrored there each step). The result goes back where q came from.
  const Device where = k.device();
  const Device compute = backend.device();
  const bool mirror = where != compute;
  RM_ASSIGN_OR_RETURN(const Tensor q_compute, to_device(backend, q, compute));
  RM_ASSIGN_OR_RETURN(BlockResult acc,
                      make_empty_result(backend, q.dim(0), q.dim(1), q.dim(2), compute));
  RM_ASSIGN_OR_RETURN(BlockResult part,
                      make_empty_result(backend, q.dim(0), q.dim(1), q.dim(2), compute));
  Tensor k_mirror, v_mirror;
  if (mirror) {
    const Shape shape{plan.max_local(), k.dim(1), k.dim(2)};
    RM_ASSIGN_OR_RETURN(k_mirror, backend.empty(shape, DType::kF32, compute));
    RM_ASSIGN_OR_RETURN(v_mirror, backend.empty(shape, DType::kF32, compute));
  }
  const TileExtent q_extent = tile_extent(positions, 0, positions.size());
  RM_ASSIGN_OR_RETURN(KvBlock current,
                      KvBlock::make(backend, where, plan.max_local(), k.dim(1), k.dim(2)));
  RM_ASSIGN_OR_RETURN(KvBlock incoming,
                      KvBlock::make(backend, where, plan.max_local(), k.dim(1), k.dim(2)));
  RM_RETURN_IF_ERROR(current.fill(backend, k, v, positions));

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
      Tensor k_block = current.k(), v_block = current.v();
      if (mirror) {
        const int64_t tokens = k_block.dim(0);
        RM_RETURN_IF_ERROR(backend.copy(k_block, k_mirror.rows(0, tokens)));
        RM_RETURN_IF_ERROR(backend.copy(v_block, v_mirror.rows(0, tokens)));
        k_block = k_mirror.rows(0, tokens);
        v_block = v_mirror.rows(0, tokens);
      }
      for (int64_t begin = 0; begin < q.dim(0); begin += kSliceRows) {
        const int64_t end = std::min(q.dim(0), begin + kSliceRows);
        BlockResult slice{part.out.rows(begin, end), part.lse.rows(begin, end)};
        RM_RETURN_IF_ERROR(backend.attend_block_into(q_compute.rows(begin, end), k_block, v_block,
                                                     slice_of(positions, begin, end), kv_positions,
                                                     mask, slice));
        send.test();
        recv.test();
      }
      RM_RETURN_IF_ERROR(backend.merge_into(acc, part));
      // A device backend may still be reading `current`, which the next step's receive
      // overwrites after the swap: finish the step's work first.
      RM_RETURN_IF_ERROR(backend.synchronize());
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
      RM_RETURN_IF_ERROR(incoming.load_positions(backend));
      if (layout != nullptr) {
        const Positions got = incoming.positions();
        RM_RETURN_IF_ERROR(check_received_positions(
            plan, *layout, (src - 1 + world) % world, got.pos, got.seq,
            "ring layer " + std::to_string(layer) + " step " + std::to_string(step)));
      }
      std::swap(current, incoming);
    }
  }
  if (q.device() == compute) return acc;
  BlockResult result;
  RM_ASSIGN_OR_RETURN(result.out, to_device(backend, acc.out, q.device()));
  RM_ASSIGN_OR_RETURN(result.lse, to_device(backend, acc.lse, q.device()));
  return result;
}

}  // namespace ringmaster::attention
