// model/internal/attention_decode.h: the decode caches of the attention family (mixer.h's
// attention, window and local mixers; ALGORITHMS.md 7.3 and 7.4).
//
// SplitKCache (global attention): every rank keeps the K/V of the tokens it prefilled, in place,
// once for all the streams of a record: a stream sees the prefix of them before its base. A
// step's queries travel to every rank with the new rows' K/V (KV heads only, no GQA copies); each
// rank appends the new K/V of the streams it is the designated owner of, computes a partial
// (out, lse) of every query over its keys of that stream, and sends it back to the stream's tail
// rank, which merges the P partials in rank order (exact: softmax_state.h). The owner of a new
// token's K/V is the rank holding the fewest keys of its stream (lowest rank on ties), computed
// identically on every rank, so long generations spread over the ranks instead of piling onto
// the tail. Per step: two all-to-all-v exchanges of O(P * rows * (n_heads + 2 n_kv_heads) *
// head_dim) floats.
//
// NearCache (window, local): the tail rank keeps, per stream, the K/V rows the stream's next
// queries may see (the last window - 1 rows before its base; the rows of its group before its
// base), taken from the prefill's own rows and halo, and drops rows as they fall out of sight.
// No exchange.
// Thread-compatible.
#pragma once

#include <functional>
#include <vector>

#include "model/decode.h"
#include "model/halo.h"
#include "model/kv_rows.h"
#include "model/shard.h"

namespace ringmaster::model {

class SplitKCache {
 public:
  // After prefill: this rank's rows k, v [n_local, n_kv_heads, head_dim] (rope applied), kept.
  void keep(const ShardContext& ctx, Tensor k, Tensor v);

  // Attention output [step.num_local(), n_heads, head_dim] of this rank's rows, whose q, k, v
  // ([rows, heads, head_dim], rope applied) it is given. Collective.
  StatusOr<Tensor> attend(const ShardContext& ctx, const DecodeStep& step, const Tensor& q,
                          const Tensor& k, const Tensor& v, uint32_t layer);

 private:
  Tensor k_, v_;                                   // the prefill's rows, local order
  std::vector<std::pair<int64_t, int64_t>> rows_;  // [stream]: the prefill rows it sees
  std::vector<KvRows> appended_;                   // [stream]: K/V appended here while decoding
  std::vector<std::vector<int64_t>> held_;         // [stream][rank]: keys each rank holds
};

// The first key position a query at `position` may see.
using FirstVisible = std::function<int64_t(int64_t position)>;

class NearCache {
 public:
  // After prefill: keeps, for each stream this rank is the tail of, the rows of `keys` (own rows
  // and halo) that a query at the stream's first position (its base) may see.
  void keep(const ShardContext& ctx, const HaloKeys& keys, const FirstVisible& first_visible);

  // Attention output [rows, n_heads, head_dim] of this rank's rows of the step: appends each
  // row's k, v to its record, attends, and drops what the next position cannot see. Local.
  StatusOr<Tensor> attend(const ShardContext& ctx, const DecodeStep& step, const Tensor& q,
                          const Tensor& k, const Tensor& v, const FirstVisible& first_visible);

 private:
  std::vector<KvRows> streams_;  // [stream]; empty for streams whose tail is elsewhere
};

}  // namespace ringmaster::model
