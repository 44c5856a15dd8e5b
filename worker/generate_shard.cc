#include "worker/generate_shard.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "comm/collectives.h"
#include "core/stopwatch.h"
#include "model/decode.h"

namespace ringmaster::worker {
namespace {

constexpr uint8_t kStepPlanKind = 52;

// A record this rank decodes (it owns the prompt's last token).
struct Going {
  GeneratedRecord out;
  int64_t next_pos = 0;  // where the last sampled token is fed
  bool done = false;
};

class Generator {
 public:
  Generator(model::Model& model, const model::ShardContext& ctx, const GenerateSpec& spec)
      : model_(model), ctx_(ctx), spec_(spec), vocab_(model.config().vocab) {}

  // Samples step 0 of every record whose tail is here from the prefill's hf.
  void start(const Tensor& hf) {
    const comm::RecordLayout& layout = *ctx_.layout;
    // One stream per record (model::record_ends), so stream s is record s.
    tails_ = ctx_.streams->tail;
    // Slots of the step-plan exchange: one count and one record per record a rank decodes.
    slots_.assign(static_cast<size_t>(ctx_.comm->size()), 1);
    for (const int t : tails_) ++slots_[static_cast<size_t>(t)];
    for (int32_t r = 0; r < layout.num_records(); ++r) {
      if (tails_[static_cast<size_t>(r)] != ctx_.comm->rank()) continue;
      const int64_t last = layout.start(r + 1) - 1;
      const auto row =
          std::lower_bound(ctx_.tokens.begin(), ctx_.tokens.end(), last) - ctx_.tokens.begin();
      slot_[r] = going_.size();
      Going& g = going_.emplace_back();
      g.out.record = r;
      g.next_pos = layout.length(r);
      sample(g, hf.const_data<float>() + row * hf.dim(1), 0);
    }
  }

  // Runs decode steps until no record of any rank is going.
  Status run(const DecodeProgressFn& progress) {
    for (uint32_t s = 1;; ++s) {
      RM_ASSIGN_OR_RETURN(model::DecodeStep step, plan_step(s));
      if (step.size() == 0) return ok_status();
      std::vector<int32_t> ids;
      std::vector<Going*> rows;
      for (const size_t i : step.local) {
        Going& g = find(step.stream[i]);
        ids.push_back(g.out.tokens.back());
        rows.push_back(&g);
      }
      RM_ASSIGN_OR_RETURN(Tensor hf, model_.append(ctx_, step, ids));
      for (size_t j = 0; j < rows.size(); ++j) {
        ++rows[j]->next_pos;
        sample(*rows[j], hf.const_data<float>() + static_cast<int64_t>(j) * hf.dim(1), s);
      }
      steps_ = s + 1;
      if (progress) progress(s, generated());
    }
  }

  std::vector<GeneratedRecord> records() const {
    std::vector<GeneratedRecord> out;
    for (const Going& g : going_) out.push_back(g.out);
    return out;
  }
  int64_t steps() const { return steps_; }

 private:
  void sample(Going& g, const float* hf, int64_t step) {
    std::vector<float> logits(static_cast<size_t>(model_.config().vocab_size()));
    model_.logits(hf, 1, logits.data());
    const model::Choice c = model::choose_next(logits, vocab_, spec_.sampling, g.out.record, step);
    g.out.log_likelihood += c.log_prob;
    if (c.token == io::eos_id(vocab_)) {
      g.out.eos = true;
      g.done = true;
      return;
    }
    g.out.tokens.push_back(c.token);
    g.done = static_cast<int64_t>(g.out.tokens.size()) >= spec_.max_new_tokens;
  }

  Going& find(int32_t record) { return going_[slot_.at(record)]; }

  int64_t generated() const {
    int64_t n = 0;
    for (const Going& g : going_) n += static_cast<int64_t>(g.out.tokens.size());
    return n;
  }

  // Without attention blocks no rank reads another's caches: each decodes its own records alone,
  // with no exchange per step, and may finish before the others.
  model::DecodeStep local_step(uint32_t s) const {
    model::DecodeStep step;
    step.index = s;
    for (const Going& g : going_) {
      if (g.done) continue;
      step.stream.push_back(g.out.record);
      step.pos.push_back(ctx_.layout->length(g.out.record) + s - 1);
      step.tail.push_back(ctx_.comm->rank());
    }
    model::index_local_rows(step, ctx_.comm->rank());
    return step;
  }

  // Every rank learns which records feed a token this step: each sends the records it decodes
  // that are still going, in a slot sized by how many records it decodes (known to all).
  StatusOr<model::DecodeStep> plan_step(uint32_t s) {
    if (!model_.decode_is_collective()) return local_step(s);
    comm::Communicator& comm = *ctx_.comm;
    const int world = comm.size(), me = comm.rank();
    const std::vector<size_t>& slots = slots_;
    std::vector<int32_t> mine(slots[static_cast<size_t>(me)], -1);
    int32_t count = 0;
    for (const Going& g : going_) {
      if (!g.done) mine[static_cast<size_t>(++count)] = g.out.record;
    }
    mine[0] = count;
    std::vector<int32_t> send;
    for (int p = 0; p < world; ++p) send.insert(send.end(), mine.begin(), mine.end());
    std::vector<size_t> send_bytes(static_cast<size_t>(world), mine.size() * sizeof(int32_t)),
        recv_bytes(static_cast<size_t>(world));
    size_t total = 0;
    for (int p = 0; p < world; ++p) {
      recv_bytes[static_cast<size_t>(p)] = slots[static_cast<size_t>(p)] * sizeof(int32_t);
      total += slots[static_cast<size_t>(p)];
    }
    std::vector<int32_t> all(total);
    RM_RETURN_IF_ERROR(comm::all_to_all_v(comm, comm::as_bytes(std::span<const int32_t>(send)),
                                          send_bytes, comm::as_writable_bytes(std::span(all)),
                                          recv_bytes,
                                          comm::Tag{0, s & comm::Tag::kMaxStep, kStepPlanKind}));

    std::vector<int32_t> records;
    size_t offset = 0;
    for (int p = 0; p < world; ++p) {
      const size_t slot = slots[static_cast<size_t>(p)];
      const int32_t n = all[offset];
      if (n < 0 || static_cast<size_t>(n) >= slot) {
        return data_loss("decode step " + std::to_string(s) + ": rank " + std::to_string(p) +
                         " reports " + std::to_string(n) + " records going");
      }
      for (int32_t k = 1; k <= n; ++k) {
        const int32_t r = all[offset + static_cast<size_t>(k)];
        if (r < 0 || r >= static_cast<int32_t>(tails_.size()) ||
            tails_[static_cast<size_t>(r)] != p) {
          return data_loss("decode step " + std::to_string(s) + ": rank " + std::to_string(p) +
                           " reports record " + std::to_string(r) + ", which it does not decode");
        }
        records.push_back(r);
      }
      offset += slot;
    }
    std::sort(records.begin(), records.end());
    model::DecodeStep step;
    step.index = s;
    step.stream = records;
    const comm::RecordLayout& layout = *ctx_.layout;
    for (const int32_t r : records) {
      // Record r feeds its s-th generated token (the first was sampled from the prefill).
      step.pos.push_back(layout.length(r) + s - 1);
      step.tail.push_back(tails_[static_cast<size_t>(r)]);
    }
    model::index_local_rows(step, me);
    return step;
  }

  model::Model& model_;
  const model::ShardContext& ctx_;
  const GenerateSpec& spec_;
  io::Vocab vocab_;
  std::vector<int> tails_;
  std::vector<Going> going_;
  std::map<int32_t, size_t> slot_;  // record -> its index in going_
  std::vector<size_t> slots_;       // [rank]: step-plan slots (records it decodes + 1)
  int64_t steps_ = 1;
};

}  // namespace

StatusOr<GenerateShardResult> run_generate_shard(
    comm::Communicator& comm, const comm::PartitionPlan& plan, const ModelShardSpec& spec,
    const GenerateSpec& generate, ThreadPool& pool, const model::ProgressFn& prefill_progress,
    const DecodeProgressFn& decode_progress, model::ShardBackends backends, std::stop_token stop,
    comm::TrafficMeter* traffic) {
  const auto start = std::chrono::steady_clock::now();
  RM_ASSIGN_OR_RETURN(model::Model model, model::Model::load(spec.model_dir, spec.compute));
  if (!model.config().causal) {
    return invalid_argument(spec.model_dir + ": the generate task needs a causal model");
  }
  const comm::RecordLayout layout(spec.record_lengths);
  model::ShardContext ctx = model::make_shard_context(
      comm, plan, layout, pool, spec.context_parallel, std::move(backends), std::move(stop));
  ctx.traffic = traffic;
  ctx.streams =
      std::make_shared<const model::DecodeStreams>(model::record_ends(layout), plan, layout);
  RM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, fed_ids(ctx, spec, model.config().vocab));
  spdlog::info("rank {} of {}: prefill of {} of {} tokens, then up to {} new tokens per record",
               comm.rank(), comm.size(), ctx.num_local(), plan.num_tokens(),
               generate.max_new_tokens);

  GenerateShardResult result;
  RM_ASSIGN_OR_RETURN(Tensor hf, model.forward(ctx, ids, prefill_progress));
  RM_RETURN_IF_ERROR(model.finish_sends(ctx));
  result.prefill_s = seconds_since(start);
  const auto decode_start = std::chrono::steady_clock::now();
  {
    // The steps' own exchanges (who decodes what) count with the blocks' as decode traffic.
    const comm::TrafficMeter::Phase phase(traffic, "decode");
    Generator generator(model, ctx, generate);
    generator.start(hf);
    hf = Tensor();
    RM_RETURN_IF_ERROR(generator.run(decode_progress));
    result.records = generator.records();
    result.decode_steps = generator.steps();
  }
  result.decode_s = seconds_since(decode_start);
  // The tokens came from mapped weights: if the file changed meanwhile, they are not the model's.
  RM_RETURN_IF_ERROR(model.check_weights_unchanged());
  result.stats.wall_s = seconds_since(start);
  result.stats.compute_s = result.stats.wall_s;
  return result;
}

}  // namespace ringmaster::worker
