#include "model/shard.h"

namespace ringmaster::model {

ShardContext make_shard_context(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                const comm::RecordLayout& layout, ThreadPool& pool,
                                attention::ContextParallelism context_parallel,
                                std::shared_ptr<attention::AttentionBackend> backend,
                                std::shared_ptr<memory::AtlasBackend> atlas, std::stop_token stop) {
  ShardContext ctx;
  ctx.comm = &comm;
  ctx.plan = &plan;
  ctx.layout = &layout;
  ctx.pool = &pool;
  ctx.backend = backend ? std::move(backend) : attention::make_cpu_backend(pool, stop);
  ctx.atlas = atlas ? std::move(atlas) : memory::make_cpu_atlas_backend(pool.num_threads());
  ctx.context_parallel = context_parallel;
  ctx.stop = std::move(stop);
  ctx.tokens = plan.tokens_of(comm.rank());
  layout.positions_of(ctx.tokens, ctx.pos, ctx.seq);
  return ctx;
}

}  // namespace ringmaster::model
