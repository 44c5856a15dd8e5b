// worker/generate_shard.h: one rank's part of a generate job (MODEL.md "generate").
//
// Prefill of every prompt with the caches kept (model/decode.h), then decode steps: in each, every
// record still going feeds its last token and the rank that owns the record's tail samples the
// next one (model/sampling.h). In a model with attention blocks every rank runs every step (they
// exchange queries and partials), so the records of all prompts decode together, one exchange per
// attention block per step, after one small exchange that says which records go on. Without
// attention blocks a rank decodes the records whose tail it owns on its own, with no exchange.
// A record stops at <eos> (not output) or after max_new_tokens.
//
// Collective over comm: every rank of the job calls it. Once `stop` is requested it returns
// kCancelled at its next check. Thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <vector>

#include "model/sampling.h"
#include "worker/model_shard.h"

namespace ringmaster::worker {

struct GenerateSpec {
  int64_t max_new_tokens = 1;
  model::SamplingOptions sampling;
};

// One prompt's continuation, reported by the rank that owns the prompt's last token.
struct GeneratedRecord {
  int32_t record = 0;           // input order, from 0
  std::vector<int32_t> tokens;  // generated ids (regular ids of the vocabulary; no <eos>)
  double log_likelihood = 0;    // nats: the generated tokens and a final <eos> if drawn
  bool eos = false;             // stopped at <eos> (else at max_new_tokens)
};

struct GenerateShardResult {
  std::vector<GeneratedRecord> records;  // the records whose tail this rank owns, increasing
  double prefill_s = 0;                  // the prompt forward pass
  double decode_s = 0;                   // every decode step
  int64_t decode_steps = 0;              // steps run (the longest record's token count)
  ShardStats stats;
};

// Called after each decode step with the step index and the tokens this rank generated so far.
using DecodeProgressFn = std::function<void(int64_t step, int64_t tokens)>;

StatusOr<GenerateShardResult> run_generate_shard(
    comm::Communicator& comm, const comm::PartitionPlan& plan, const ModelShardSpec& spec,
    const GenerateSpec& generate, ThreadPool& pool, const model::ProgressFn& prefill_progress,
    const DecodeProgressFn& decode_progress, model::ShardBackends backends = {},
    std::stop_token stop = {}, comm::TrafficMeter* traffic = nullptr);

}  // namespace ringmaster::worker
