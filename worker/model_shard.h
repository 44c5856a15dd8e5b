// worker/model_shard.h: one rank's part of a model job (MODEL.md "Tasks and their outputs").
//
// Loads the model, rebuilds this rank's fed tokens from the one-byte input ids the coordinator
// sent (a slot at position 0 is the record's <bos>), runs the forward pass over the shard and
// turns hf into result rows:
//   embed  one row of d_model per input token the rank owns (every fed token but <bos>), at its
//          input index
//   score  one value per fed token whose successor is in the same record: log p(successor), at
//          the successor's input index. The successor of a range's last token comes from
//          next_after_range. With branches (a variants job), also the log-likelihood of every
//          branch this rank runs (worker/branches.h).
// Collective over comm: every rank of the job calls it. Once `stop` is requested the forward pass
// returns kCancelled at its next check (core/cancel.h); `comm` and `backend` should stop on the
// same token. With `traffic`, the forward pass names each block's phase there (ShardContext::
// traffic); branch steps count as "decode". Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "attention/backend.h"
#include "attention/context_parallel.h"
#include "comm/communicator.h"
#include "comm/counting_comm.h"
#include "comm/partition.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "memory/backend.h"
#include "model/model.h"
#include "worker/branches.h"
#include "worker/shard_result.h"

namespace ringmaster::worker {

struct ModelShardSpec {
  std::string model_dir;
  DType compute = DType::kF32;  // of the projections and MLPs (Model::load)
  bool score = false;
  attention::ContextParallelism context_parallel = attention::ContextParallel::kRing;
  std::vector<int64_t> record_lengths;  // fed tokens per record, <bos> included
  std::vector<uint8_t> input_ids;       // this rank's fed tokens in local order
  std::vector<int32_t> next_after_range;
  // Variants jobs (score set): after the prefill, the branches (worker/branches.h), with the
  // caches they need kept.
  std::vector<BranchSpec> branches;
};

// The fed ids of this rank: spec.input_ids with each position-0 slot set to <bos>. Errors: a count
// that does not match ctx, an id that is not an input id of `vocab`.
StatusOr<std::vector<int32_t>> fed_ids(const model::ShardContext& ctx, const ModelShardSpec& spec,
                                       io::Vocab vocab);

StatusOr<ShardResult> run_model_shard(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                      const ModelShardSpec& spec, ThreadPool& pool,
                                      const model::ProgressFn& progress,
                                      const BranchProgressFn& branch_progress,
                                      model::ShardBackends backends = {}, std::stop_token stop = {},
                                      comm::TrafficMeter* traffic = nullptr);

}  // namespace ringmaster::worker
