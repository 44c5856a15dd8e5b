#include "model/shard.h"

namespace ringmaster::model {

ShardContext make_shard_context(comm::Communicator& comm, const comm::PartitionPlan& plan,
                                const comm::RecordLayout& layout, ThreadPool& pool,
                                attention::Distribution distribution,
                                std::shared_ptr<attention::AttentionBackend> backend) {
  ShardContext ctx;
  ctx.comm = &comm;
  ctx.plan = &plan;
  ctx.layout = &layout;
  ctx.pool = &pool;
  ctx.backend = backend ? std::move(backend) : attention::make_cpu_backend(pool);
  ctx.distribution = distribution;
  ctx.tokens = plan.tokens_of(comm.rank());
  layout.positions_of(ctx.tokens, ctx.pos, ctx.seq);
  return ctx;
}

}  // namespace ringmaster::model
