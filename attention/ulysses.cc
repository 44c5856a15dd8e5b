// Ulysses attention: re-shard tokens -> heads, attend locally, re-shard heads -> tokens.
//
// Step schedule, P ranks (or the U ranks of a hybrid's group, ulysses_exchange), rank r owning
// n_r tokens, H query and H_kv key/value heads:
//   1. all-to-all: rank r sends peer p its n_r rows of query heads [p H/P, (p+1) H/P) (and of
//      kv heads [p H_kv/P, ...)); rank r receives every rank's rows of its own head slice,
//      giving Q [L, H/P, d], K and V [L, H_kv/P, d], tokens grouped by source rank.
//   2. all-to-all of positions (each rank sends its own to everyone): the L positions in the
//      same source-rank order, so masks see global positions whatever the plan.
//   3. attend_block over the whole sequence for this head slice (GQA maps locally, because
//      query head h and its kv head h / (H / H_kv) land on the same rank). The hybrid's step 3
//      is instead a ring across groups (attention/hybrid.cc).
//   4. all-to-all back: rank r returns to peer p the output rows of p's tokens.
// Traffic per rank ~ 4 n d (P-1)/P for Q, K, V and out; memory O(L H d / P).
#include "attention/ulysses.h"

#include <chrono>
#include <cstring>
#include <vector>

#include "attention/received_positions.h"
#include "comm/collectives.h"
#include "core/stopwatch.h"

namespace ringmaster::attention {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint8_t kQueryKind = 2, kKeyKind = 3, kValueKind = 4, kPositionKind = 5,
                  kSequenceKind = 6, kOutputKind = 7, kLseKind = 8;

// Packs rows [n, heads, d] of `t` into peer order: peer p gets the heads listed in heads[p].
std::vector<float> pack_heads(const Tensor& t, const std::vector<std::vector<int64_t>>& heads) {
  const int64_t n = t.dim(0), all_heads = t.dim(1), d = t.dim(2);
  std::vector<float> packed;
  const float* src = t.data<float>();
  for (const auto& list : heads) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t h : list) {
        const float* row = src + (i * all_heads + h) * d;
        packed.insert(packed.end(), row, row + d);
      }
    }
  }
  return packed;
}

// The query heads each rank attends for, and the kv heads it needs for them. When n_kv_heads
// divides among the ranks, each gets its own kv slice (GQA stays local); otherwise each query
// head gets a copy of its kv head, so the local problem is plain multi-head attention.
struct HeadSplit {
  std::vector<std::vector<int64_t>> q, kv;
};

HeadSplit split_heads(int64_t n_heads, int64_t n_kv_heads, int world) {
  HeadSplit split;
  const int64_t hq = n_heads / world, group = n_heads / n_kv_heads;
  for (int p = 0; p < world; ++p) {
    std::vector<int64_t> q, kv;
    for (int64_t j = 0; j < hq; ++j) q.push_back(p * hq + j);
    if (n_kv_heads % world == 0) {
      for (int64_t j = 0; j < n_kv_heads / world; ++j) kv.push_back(p * (n_kv_heads / world) + j);
    } else {
      for (int64_t h : q) kv.push_back(h / group);
    }
    split.q.push_back(std::move(q));
    split.kv.push_back(std::move(kv));
  }
  return split;
}

// Byte counts per peer when each peer gets `rows_per_peer[p] * row_floats` floats.
std::vector<size_t> counts(const std::vector<int64_t>& rows_per_peer, int64_t row_bytes) {
  std::vector<size_t> out;
  for (int64_t rows : rows_per_peer) out.push_back(static_cast<size_t>(rows * row_bytes));
  return out;
}

}  // namespace

StatusOr<BlockResult> ulysses_exchange(comm::Communicator& group, const comm::PartitionPlan& plan,
                                       int first_rank, const Tensor& q, const Tensor& k,
                                       const Tensor& v, const Positions& positions, uint32_t layer,
                                       DistStats& st, const comm::RecordLayout* layout,
                                       const HeadSliceAttention& attend) {
  const int world = group.size(), rank = group.rank();
  const int64_t n_heads = q.dim(1), n_kv_heads = k.dim(1), d = q.dim(2);
  if (n_heads % world != 0) {
    return invalid_argument("ulysses: n_heads " + std::to_string(n_heads) +
                            " must be a multiple of the " + std::to_string(world) +
                            " workers (use ring attention instead)");
  }
  const int64_t n_local = plan.num_local(first_rank + rank);
  if (!q.device().is_cpu() || !k.device().is_cpu() || !v.device().is_cpu()) {
    return invalid_argument("ulysses: q, k and v must be host tensors, got q " + q.to_string());
  }
  if (first_rank < 0 || first_rank + world > plan.world() || q.dim(0) != n_local ||
      k.dim(0) != n_local || v.dim(0) != n_local || positions.size() != n_local) {
    return invalid_argument("ulysses: rank " + std::to_string(first_rank + rank) + " owns " +
                            std::to_string(n_local) + " tokens but got q " + q.to_string());
  }
  const HeadSplit split = split_heads(n_heads, n_kv_heads, world);
  const auto hq = static_cast<int64_t>(split.q[0].size());
  const auto hkv = static_cast<int64_t>(split.kv[0].size());
  std::vector<int64_t> mine(static_cast<size_t>(world), n_local), theirs;
  int64_t total = 0;
  for (int p = 0; p < world; ++p) {
    theirs.push_back(plan.num_local(first_rank + p));
    total += theirs.back();
  }

  // 1-2: tokens -> heads.
  auto wait_start = Clock::now();
  auto exchange = [&](const std::vector<float>& send, int64_t heads,
                      uint8_t kind) -> StatusOr<Tensor> {
    Tensor recv = Tensor::empty({total, heads, d}, DType::kF32);
    const int64_t row_bytes = heads * d * int64_t{sizeof(float)};
    RM_RETURN_IF_ERROR(comm::all_to_all_v(
        group, std::as_bytes(std::span(send)), counts(mine, row_bytes),
        std::as_writable_bytes(std::span(recv.data<float>(), static_cast<size_t>(recv.numel()))),
        counts(theirs, row_bytes), comm::Tag{layer, 0, kind}));
    st.bytes_sent += static_cast<int64_t>(send.size() * sizeof(float)) * (world - 1) / world;
    return recv;
  };
  RM_ASSIGN_OR_RETURN(Tensor q_heads, exchange(pack_heads(q, split.q), hq, kQueryKind));
  RM_ASSIGN_OR_RETURN(Tensor k_heads, exchange(pack_heads(k, split.kv), hkv, kKeyKind));
  RM_ASSIGN_OR_RETURN(Tensor v_heads, exchange(pack_heads(v, split.kv), hkv, kValueKind));

  std::vector<int64_t> my_pos(positions.pos.begin(), positions.pos.end());
  std::vector<int32_t> my_seq;
  for (int64_t i = 0; i < n_local; ++i) my_seq.push_back(positions.seq_of(i));
  std::vector<int64_t> send_pos, all_pos(static_cast<size_t>(total));
  std::vector<int32_t> send_seq, all_seq(static_cast<size_t>(total));
  for (int p = 0; p < world; ++p) {
    send_pos.insert(send_pos.end(), my_pos.begin(), my_pos.end());
    send_seq.insert(send_seq.end(), my_seq.begin(), my_seq.end());
  }
  RM_RETURN_IF_ERROR(
      comm::all_to_all_v(group, std::as_bytes(std::span(send_pos)), counts(mine, sizeof(int64_t)),
                         std::as_writable_bytes(std::span(all_pos)),
                         counts(theirs, sizeof(int64_t)), comm::Tag{layer, 0, kPositionKind}));
  RM_RETURN_IF_ERROR(
      comm::all_to_all_v(group, std::as_bytes(std::span(send_seq)), counts(mine, sizeof(int32_t)),
                         std::as_writable_bytes(std::span(all_seq)),
                         counts(theirs, sizeof(int32_t)), comm::Tag{layer, 0, kSequenceKind}));
  st.wait_s += seconds_since(wait_start);
  if (layout != nullptr) {
    // all_pos and all_seq hold each source's tokens in source-rank order.
    size_t offset = 0;
    for (int p = 0; p < world; ++p) {
      const auto n = static_cast<size_t>(theirs[static_cast<size_t>(p)]);
      if (p != rank) {
        RM_RETURN_IF_ERROR(check_received_positions(
            plan, *layout, first_rank + p, std::span(all_pos).subspan(offset, n),
            std::span(all_seq).subspan(offset, n), "ulysses layer " + std::to_string(layer)));
      }
      offset += n;
    }
  }

  // 3: the local step over the group's tokens for this rank's heads.
  RM_ASSIGN_OR_RETURN(BlockResult sliced,
                      attend(q_heads, k_heads, v_heads, Positions{all_pos, all_seq}));

  // 4: heads -> tokens. sliced rows are grouped by source rank, which is the send order.
  wait_start = Clock::now();
  BlockResult result = make_empty_result(n_local, n_heads, d);
  std::vector<float> out_back(static_cast<size_t>(n_local * n_heads * d));
  std::vector<float> lse_back(static_cast<size_t>(n_local * n_heads));
  RM_RETURN_IF_ERROR(comm::all_to_all_v(
      group,
      std::as_bytes(std::span(sliced.out.data<float>(), static_cast<size_t>(sliced.out.numel()))),
      counts(theirs, hq * d * int64_t{sizeof(float)}), std::as_writable_bytes(std::span(out_back)),
      counts(mine, hq * d * int64_t{sizeof(float)}), comm::Tag{layer, 1, kOutputKind}));
  RM_RETURN_IF_ERROR(comm::all_to_all_v(
      group,
      std::as_bytes(std::span(sliced.lse.data<float>(), static_cast<size_t>(sliced.lse.numel()))),
      counts(theirs, hq * int64_t{sizeof(float)}), std::as_writable_bytes(std::span(lse_back)),
      counts(mine, hq * int64_t{sizeof(float)}), comm::Tag{layer, 1, kLseKind}));
  st.bytes_sent += sliced.out.numel() * int64_t{sizeof(float)} * (world - 1) / world;
  st.wait_s += seconds_since(wait_start);

  // out_back holds, per source peer p, [n_local, hq, d] for heads [p hq, (p+1) hq).
  float* out = result.out.data<float>();
  float* lse = result.lse.data<float>();
  for (int p = 0; p < world; ++p) {
    const float* o_src = out_back.data() + p * n_local * hq * d;
    const float* l_src = lse_back.data() + p * n_local * hq;
    for (int64_t i = 0; i < n_local; ++i) {
      std::memcpy(out + (i * n_heads + p * hq) * d, o_src + i * hq * d,
                  static_cast<size_t>(hq * d) * sizeof(float));
      std::memcpy(lse + i * n_heads + p * hq, l_src + i * hq,
                  static_cast<size_t>(hq) * sizeof(float));
    }
  }
  return result;
}

StatusOr<BlockResult> ulysses_attention(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                        const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Positions& positions, const MaskSpec& mask,
                                        AttentionBackend& backend, uint32_t layer, DistStats* stats,
                                        const comm::RecordLayout* layout) {
  if (plan.world() != comm.size()) {
    return invalid_argument("ulysses: plan for " + std::to_string(plan.world()) + " ranks, " +
                            std::to_string(comm.size()) + " in the communicator");
  }
  DistStats local_stats;
  DistStats& st = stats ? *stats : local_stats;
  // Every token is here, so the local step is one block over the whole sequence.
  auto attend = [&](const Tensor& q_heads, const Tensor& k_heads, const Tensor& v_heads,
                    const Positions& everyone) -> StatusOr<BlockResult> {
    const auto compute_start = Clock::now();
    StatusOr<BlockResult> sliced =
        attend_block(backend, q_heads, k_heads, v_heads, everyone, everyone, mask, Device::cpu());
    st.compute_s += seconds_since(compute_start);
    return sliced;
  };
  return ulysses_exchange(comm, plan, 0, q, k, v, positions, layer, st, layout, attend);
}

}  // namespace ringmaster::attention
