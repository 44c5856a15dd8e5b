#include "worker/generate_shard.h"

namespace ringmaster::worker {

// Placeholder while the decode engine (model/decode.h) is being written.
StatusOr<GenerateShardResult> run_generate_shard(
    comm::Communicator&, const comm::PartitionPlan&, const ModelShardSpec&, const GenerateSpec&,
    ThreadPool&, const model::ProgressFn&, const DecodeProgressFn&,
    std::shared_ptr<attention::AttentionBackend>, std::shared_ptr<memory::AtlasBackend>,
    std::stop_token) {
  return Status(StatusCode::kFailedPrecondition, "generate: the decode engine is not built yet");
}

}  // namespace ringmaster::worker
