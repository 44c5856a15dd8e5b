// model/decode.h: one step of incremental decoding after a prefill (ARCHITECTURE.md "After
// prefill"; ALGORITHMS.md 7.3).
//
// Decoding runs *streams*. A stream continues one record of the prefill after its first `base` fed
// tokens: generation continues each whole prompt (base = the record's length); a variant's branch
// continues the reference up to the variant with other tokens (ALGORITHMS.md 7.4). A causal
// model's rows before `base` do not depend on what follows, so a stream needs only what its
// record's prefill rows [0, base) leave behind.
//
// After Model::forward with ShardContext::streams, each mixer holds what later tokens of the
// streams need (mixer.h: Mixer::append). A step feeds one new token to each stream still going:
// the token's rows run on the stream's tail rank (the owner of its record's position base - 1)
// through every block; only the attention blocks talk to other ranks, which hold the K/V of the
// stream's earlier tokens. Every rank knows the whole step (which streams, at which positions), so
// the exchanges need no requests: every rank runs every step, also when it has no row in it.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/partition.h"

namespace ringmaster::model {

struct DecodeStream {
  int32_t record = 0;
  int64_t base = 0;  // 1 <= base <= the record's length: positions [0, base) are the prefill's
};

// One stream per record, continuing it after its last token (generate).
std::vector<DecodeStream> record_ends(const comm::RecordLayout& layout);

// The streams' layout, the same on every rank: each stream's tail rank, and the streams a
// rank runs.
struct DecodeStreams {
  std::vector<DecodeStream> streams;
  std::vector<int> tail;  // [stream]: the owner of its record's position base - 1

  DecodeStreams() = default;
  DecodeStreams(std::vector<DecodeStream> s, const comm::PartitionPlan& plan,
                const comm::RecordLayout& layout);
  size_t size() const { return streams.size(); }
  const DecodeStream& operator[](size_t s) const { return streams[s]; }
  // The streams whose tail is `rank`, increasing.
  std::vector<int32_t> tailed_by(int rank) const;
};

struct DecodeStep {
  uint32_t index = 0;           // the step, for message tags (modulo comm::Tag::kMaxStep + 1)
  std::vector<int32_t> stream;  // the streams that feed a token, increasing
  std::vector<int64_t> pos;     // the fed token's position in its stream's record
  std::vector<int> tail;        // the rank that runs the stream's rows
  // This rank's rows, in order: indices into the vectors above whose tail is this rank. Row i of
  // the tensors Model::append and Mixer::append pass around is entry local[i].
  std::vector<size_t> local;

  int64_t size() const { return static_cast<int64_t>(stream.size()); }
  int64_t num_local() const { return static_cast<int64_t>(local.size()); }
};

// Fills step.local for `rank` from step.tail.
void index_local_rows(DecodeStep& step, int rank);

}  // namespace ringmaster::model
