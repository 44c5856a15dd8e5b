// model/halo.h: fetching the key/value rows a rank's queries need from other ranks, for mixers
// whose keys lie near the queries (sliding window, FIT local groups).
//
// A KeySpan maps a run of query tokens [begin, end) to the stream span of keys they may see.
// Every rank evaluates it for every rank (the plan and layout are global), so each knows, with no
// request messages, which of its rows each peer needs: one all-to-all-v moves exactly the halo.
// When groups are aligned to shards, the span of every rank lies inside its own tokens and
// nothing crosses the network.
#pragma once

#include <functional>
#include <vector>

#include "model/shard.h"

namespace ringmaster::model {

using KeySpan = std::function<comm::TokenRange(const comm::TokenRange& queries)>;

// The keys of a sliding window of `window` tokens (causal: the w-1 before; bidirectional: also
// the w-1 after), clipped to the records the queries belong to.
KeySpan window_key_span(const comm::RecordLayout& layout, int64_t window, bool causal);
// The whole FIT groups (of `group` positions, per record) the queries fall in.
KeySpan group_key_span(const comm::RecordLayout& layout, int64_t group);

// Keys for this rank's queries: its own rows followed by the halo rows from other ranks.
struct HaloKeys {
  Tensor k, v;               // [n_keys, n_kv_heads, head_dim], f32 or (bf16 compute) bf16
  std::vector<int64_t> pos;  // per key row
  std::vector<int32_t> seq;
  attention::Positions positions() const { return {pos, seq}; }
  int64_t bytes_received = 0;
};

// Room for the keys this rank's queries see under `span`, in `dtype` (f32, or bf16 in bf16
// compute: half the bytes to hold and to send): rows [0, n_local) are for its own k and v (after
// rope), which the caller writes in place (no copy of a shard-sized tensor), then the halo rows,
// with every row's position and record filled in.
HaloKeys halo_keys(const ShardContext& ctx, const KeySpan& span, int64_t kv_heads, int64_t head_dim,
                   DType dtype = DType::kF32);

// Sends the own rows of `keys` that peers need and receives its halo rows. Collective: every rank
// calls it with the same span function and layer, after writing its own rows.
Status exchange_halo(const ShardContext& ctx, const KeySpan& span, uint32_t layer, HaloKeys& keys);

}  // namespace ringmaster::model
