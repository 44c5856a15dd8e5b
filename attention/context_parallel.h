// attention/context_parallel.h: how global attention is spread over the ranks of a job.
//
// Not to be confused with a block's mixer kind (model/config.h: attention, window, local, fit,
// atlas): this is the context-parallel scheme that every global `attention` block of a model
// job, and the attention check, runs with (`--context-parallel`).
//   kRing     K/V blocks travel round the ring while each rank attends (attention/ring.cc); any
//             plan, any head count.
//   kUlysses  all-to-all from sequence shards to head shards and back (attention/ulysses.cc);
//             needs the heads (and K/V heads) divisible by the number of ranks.
#pragma once

#include <string_view>

#include "core/status.h"

namespace ringmaster::attention {

enum class ContextParallel { kRing, kUlysses };

// "ring" or "ulysses"; kInvalidArgument naming the two otherwise.
StatusOr<ContextParallel> parse_context_parallel(std::string_view name);
const char* context_parallel_name(ContextParallel how);

}  // namespace ringmaster::attention
