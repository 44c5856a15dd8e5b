// attention/context_parallel.h: how global attention is spread over the ranks of a job.
//
// Not to be confused with a block's mixer kind (model/config.h: attention, window, local, fit,
// atlas): this is the context-parallel scheme that every global `attention` block of a model
// job, and the attention check, runs with (`--context-parallel`, `--ulysses-degree`).
//   kRing     K/V blocks travel round the ring while each rank attends (attention/ring.cc); any
//             plan, any head count.
//   kUlysses  all-to-all from sequence shards to head shards and back (attention/ulysses.cc);
//             needs the heads (and K/V heads) divisible by the number of ranks.
//   kHybrid   Ulysses inside groups of U consecutive ranks, ring across the P / U groups
//             (attention/hybrid.cc); needs U to divide the ranks and the heads.
#pragma once

#include <string>
#include <string_view>

#include "attention/ring.h"
#include "core/status.h"

namespace ringmaster::attention {

enum class ContextParallel { kRing, kUlysses, kHybrid };

// A scheme with its one parameter. Implicit from the enum, so code that names a scheme without
// a degree (ring, Ulysses) reads as before.
struct ContextParallelism {
  ContextParallelism(ContextParallel scheme = ContextParallel::kRing, int degree = 1)
      : how(scheme), ulysses_degree(degree) {}

  ContextParallel how;
  int ulysses_degree;  // kHybrid only: ranks per Ulysses group (ring degree = world / it)

  // "ring", "ulysses", "hybrid (ulysses degree 2)", for logs and test names.
  std::string to_string() const;
};

// "ring", "ulysses" or "hybrid"; kInvalidArgument naming the three otherwise.
StatusOr<ContextParallel> parse_context_parallel(std::string_view name);
const char* context_parallel_name(ContextParallel how);

// Exact attention of this rank's rows over the whole sequence, spread as `how` says: ring.h's
// contract and errors (ring_attention, ulysses_attention or hybrid_attention). Ulysses and the
// hybrid REQUIRE host k and v; q may be on the host or backend.device() for every scheme (Ulysses
// and the hybrid then read a host copy), and the result is where q is.
StatusOr<BlockResult> context_parallel_attention(
    const ContextParallelism& how, comm::Communicator& comm, const comm::PartitionPlan& plan,
    const Tensor& q, const Tensor& k, const Tensor& v, const Positions& positions,
    const MaskSpec& mask, AttentionBackend& backend, uint32_t layer, DistStats* stats = nullptr,
    const comm::RecordLayout* layout = nullptr);

}  // namespace ringmaster::attention
