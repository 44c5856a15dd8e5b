#include "model/shard.h"

namespace ringmaster::model {

ShardContext make_shard_context(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                const comm::RecordLayout& layout, ThreadPool& pool,
                                attention::ContextParallelism context_parallel,
                                ShardBackends backends, std::stop_token stop) {
  ShardContext ctx;
  ctx.comm = &comm;
  ctx.plan = &plan;
  ctx.layout = &layout;
  ctx.pool = &pool;
  ctx.backend =
      backends.attention ? std::move(backends.attention) : attention::make_cpu_backend(pool, stop);
  ctx.atlas = backends.atlas ? std::move(backends.atlas)
                             : memory::make_cpu_atlas_backend(pool.num_threads());
  ctx.layers = backends.layers ? std::move(backends.layers) : make_cpu_layer_backend(pool);
  ctx.context_parallel = context_parallel;
  ctx.stop = std::move(stop);
  ctx.tokens = plan.tokens_of(comm.rank());
  layout.positions_of(ctx.tokens, ctx.pos, ctx.seq);
  return ctx;
}

}  // namespace ringmaster::model
