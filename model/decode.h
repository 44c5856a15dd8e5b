// model/decode.h: one step of incremental decoding after a prefill (ARCHITECTURE.md "After
// prefill"; ALGORITHMS.md 7.3).
//
// After Model::forward with ShardContext::keep_caches, each mixer holds what later tokens of the
// records need (mixer.h: Mixer::append). A step feeds one new token to each record still going:
// the token's rows run on the record's tail rank (the owner of the prompt's last token) through
// every block; only the attention blocks talk to other ranks, which hold the K/V of the record's
// earlier tokens. Every rank knows the whole step (which records, at which positions), so the
// exchanges need no requests: every rank runs every step, also when it has no row in it.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/partition.h"

namespace ringmaster::model {

struct DecodeStep {
  uint32_t index = 0;           // the step, for message tags (modulo comm::Tag::kMaxStep + 1)
  std::vector<int32_t> record;  // the records that feed a token, increasing
  std::vector<int64_t> pos;     // the fed token's position in its record
  std::vector<int> tail;        // the rank that runs the record's rows
  // This rank's rows, in order: indices into the vectors above whose tail is this rank. Row i of
  // the tensors Model::append and Mixer::append pass around is entry local[i].
  std::vector<size_t> local;

  int64_t size() const { return static_cast<int64_t>(record.size()); }
  int64_t num_local() const { return static_cast<int64_t>(local.size()); }
};

// The rank that runs record r's decode rows: the owner of its last prompt token.
std::vector<int> tail_ranks(const comm::PartitionPlan& plan, const comm::RecordLayout& layout);

// Fills step.local for `rank` from step.tail.
void index_local_rows(DecodeStep& step, int rank);

}  // namespace ringmaster::model
