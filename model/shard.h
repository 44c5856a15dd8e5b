// model/shard.h: what one rank knows while it runs its slice of the sequence.
//
// ShardContext bundles the Communicator, the partition plan, the record layout, the stream
// indices this rank owns (local order) with their positions and record ids, the thread pool,
// the attention backend, how global attention is distributed and the stop token that cancels the
// job's compute (core/cancel.h). Built once per job by the worker; mixers read it. Not owning,
// except the backend (shared, so copies of the context run on the same one): the referenced objects
// outlive the job. Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <vector>

#include "attention/backend.h"
#include "attention/context_parallel.h"
#include "attention/masks.h"
#include "comm/communicator.h"
#include "comm/counting_comm.h"
#include "comm/partition.h"
#include "core/thread_pool.h"
#include "memory/backend.h"
#include "model/decode.h"
#include "model/layer_backend.h"

namespace ringmaster::model {

struct ShardContext {
  comm::Communicator* comm = nullptr;
  const comm::PartitionPlan* plan = nullptr;
  const comm::RecordLayout* layout = nullptr;
  ThreadPool* pool = nullptr;
  // Where attention blocks compute; it takes host rows or rows on its device and moves what it
  // needs. Chosen once by the worker (CPU over `pool` unless told otherwise).
  std::shared_ptr<attention::AttentionBackend> backend;
  // Where ATLAS chains run (memory/backend.h), one slot per pool thread; chosen with `backend`.
  std::shared_ptr<memory::AtlasBackend> atlas;
  // Where the residual stream lives and the norms, residual adds and MLPs run
  // (model/layer_backend.h); chosen with `backend`.
  std::shared_ptr<LayerBackend> layers;
  attention::ContextParallelism context_parallel = attention::ContextParallel::kRing;
  // Requested when the job is over for this rank (an abort): Model::forward and the mixers
  // return kCancelled at their next check (between blocks, query chunks, chain blocks, tiles).
  // The default token is never stopped. `comm` and `backend` are expected to stop on it too
  // (comm/cancellable_comm.h, make_cpu_backend).
  std::stop_token stop;
  // Decoding follows (model/decode.h): the mixers keep, after forward, what these streams' later
  // tokens need, on the ranks that will need it (Mixer::append). Null: nothing is kept.
  std::shared_ptr<const DecodeStreams> streams;
  bool keep_caches() const { return streams != nullptr; }
  // Where `comm`'s traffic is counted (comm/counting_comm.h), when the worker counts it: the
  // block loop names each block's phase by its kind, so bytes and waits split per block kind.
  // Null: nothing is named.
  comm::TrafficMeter* traffic = nullptr;

  std::vector<int64_t> tokens;  // stream indices owned by this rank, increasing
  std::vector<int64_t> pos;     // position within its record, per local token
  std::vector<int32_t> seq;     // record id, per local token

  int64_t num_local() const { return static_cast<int64_t>(tokens.size()); }
  attention::Positions positions() const { return {pos, seq}; }
};

// Where a shard computes, chosen once per job by the worker (worker/attention_backend.h). A null
// member means the CPU backend over the shard's pool.
struct ShardBackends {
  std::shared_ptr<attention::AttentionBackend> attention;
  std::shared_ptr<memory::AtlasBackend> atlas;
  std::shared_ptr<LayerBackend> layers;
};

// Fills tokens/pos/seq for `rank` from the plan and layout, with `backends` (the CPU's over
// `pool`, stopping on `stop`, where null).
ShardContext make_shard_context(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                const comm::RecordLayout& layout, ThreadPool& pool,
                                attention::ContextParallelism context_parallel,
                                ShardBackends backends = {}, std::stop_token stop = {});

}  // namespace ringmaster::model
