#include "predict/planner.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace ringmaster::predict {
namespace {

std::string human_bytes(int64_t bytes) {
  char buf[32];
  const auto b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  }
  return buf;
}

std::string human_seconds(double s) {
  char buf[32];
  if (s >= 1) {
    std::snprintf(buf, sizeof buf, "%.3f s", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f us", s * 1e6);
  }
  return buf;
}

std::string block_name(const model::ModelConfig& c, int i) {
  return "block " + std::to_string(i) + " (" +
         model::mixer_kind_name(c.blocks[static_cast<size_t>(i)].mixer) + ")";
}

// Peak bytes of the busiest rank of `job` at `workers` workers; -1 when that plan cannot be made.
int64_t peak_at(PlannedJob job, const Hardware& hw, int workers) {
  job.workers = workers;
  job.rank_weights.clear();  // weights are per worker; other counts are searched as equal
  const StatusOr<RankMemory> m = predict_memory(job, hw);
  return m.ok() ? m->peak_bytes : -1;
}

// The fewest workers in (job.workers, kMaxPlannedWorkers] whose peak fits; 0 when none does.
// Memory falls with P (every term is constant or shrinks with n), so doubling then bisecting
// finds it.
int fewest_workers_that_fit(const PlannedJob& job, const Hardware& hw, int64_t limit) {
  auto fits = [&](int p) {
    const int64_t peak = peak_at(job, hw, p);
    return peak >= 0 && peak <= limit;
  };
  int lo = job.workers, hi = job.workers;
  while (true) {
    if (hi >= kMaxPlannedWorkers) return 0;
    lo = hi;
    hi = std::min(kMaxPlannedWorkers, hi * 2);
    if (fits(hi)) break;
  }
  while (hi - lo > 1) {  // fits(hi), !fits(lo)
    const int mid = lo + (hi - lo) / 2;
    (fits(mid) ? hi : lo) = mid;
  }
  return hi;
}

// The layouts the planner compares: the ring, Ulysses, and the hybrid at every Ulysses degree
// strictly between 1 and P that divides both the workers and the heads (check_job_allowed drops
// what the model refuses).
std::vector<attention::ContextParallelism> layouts(const PlannedJob& job) {
  std::vector<attention::ContextParallelism> out = {attention::ContextParallel::kRing,
                                                    attention::ContextParallel::kUlysses};
  for (int u = 2; u < job.workers; ++u) {
    if (job.workers % u == 0 && job.config.n_heads % u == 0) {
      out.emplace_back(attention::ContextParallel::kHybrid, u);
    }
  }
  return out;
}

// "context_parallel", and "ulysses_degree" for a hybrid.
void add_layout(nlohmann::ordered_json& j, const attention::ContextParallelism& how) {
  j["context_parallel"] = attention::context_parallel_name(how.how);
  if (how.how == attention::ContextParallel::kHybrid) j["ulysses_degree"] = how.ulysses_degree;
}

}  // namespace

Verdict judge_memory(const PlannedJob& job, const Hardware& hw, const RankMemory& memory,
                     int64_t limit) {
  Verdict v;
  if (limit <= 0) {
    v.text = "no memory limit given; the busiest rank peaks at " + human_bytes(memory.peak_bytes) +
             (memory.peak_block >= 0 ? " in " + block_name(job.config, memory.peak_block) : "");
    return v;
  }
  if (memory.peak_bytes <= limit) {
    v.text = "fits: the busiest rank peaks at " + human_bytes(memory.peak_bytes) + " of " +
             human_bytes(limit) + " per worker";
    return v;
  }
  v.fits = false;
  for (size_t i = 0; i < memory.blocks.size(); ++i) {
    if (memory.blocks[i].peak_bytes > limit) {
      v.oom_block = static_cast<int>(i);
      break;
    }
  }
  const int64_t over = memory.blocks.empty() || v.oom_block < 0
                           ? memory.peak_bytes
                           : memory.blocks[static_cast<size_t>(v.oom_block)].peak_bytes;
  v.text = "OOM " +
           (v.oom_block >= 0 ? "at " + block_name(job.config, v.oom_block)
                             : std::string("before the first block")) +
           ": the busiest rank (" + std::to_string(memory.tokens_per_rank) + " tokens) needs " +
           human_bytes(over) + " of " + human_bytes(limit) + " per worker";
  v.workers_needed = fewest_workers_that_fit(job, hw, limit);
  if (v.workers_needed > 0) {
    v.text += "; needs " + std::to_string(v.workers_needed) + " workers";
  } else {
    v.text += "; no worker count fits: the process (" + human_bytes(memory.process_bytes) +
              "), the weights (" + human_bytes(memory.weight_bytes) +
              ") and fit blocks' latents of the whole sequence do not shrink with workers";
  }
  return v;
}

StatusOr<PlanReport> make_plan(const PlannedJob& job, const Hardware& hw,
                               int64_t memory_per_worker) {
  RM_RETURN_IF_ERROR(validate_hardware(hw, "hardware"));
  if (job.tokens < 1) return invalid_argument("--tokens must be at least 1");
  int64_t record_sum = 0;
  for (const int64_t length : job.record_lengths) {
    if (length < 1) return invalid_argument("a record of " + std::to_string(length) + " tokens");
    record_sum += length;
  }
  if (!job.record_lengths.empty() && record_sum != job.tokens) {
    return invalid_argument("records of " + std::to_string(record_sum) + " tokens in all, not " +
                            std::to_string(job.tokens));
  }
  if (job.plan_align < 1) return invalid_argument("--plan-align must be at least 1");
  if (job.workers < 1 || job.workers > kMaxPlannedWorkers) {
    return invalid_argument("--workers must be 1.." + std::to_string(kMaxPlannedWorkers));
  }
  RM_RETURN_IF_ERROR(check_job_allowed(job));
  PlanReport r;
  r.job = job;
  r.memory_per_worker = memory_per_worker;
  RM_ASSIGN_OR_RETURN(r.memory, predict_memory(job, hw));
  r.verdict = judge_memory(job, hw, r.memory, memory_per_worker);
  RM_ASSIGN_OR_RETURN(r.prefill, predict_prefill(job, hw));
  if (job.config.causal) {
    RM_ASSIGN_OR_RETURN(r.decode_s_per_token, predict_decode_per_token(job, hw));
  }
  for (const comm::PlanKind plan :
       {comm::PlanKind::kContiguous, comm::PlanKind::kZigzag, comm::PlanKind::kStriped}) {
    for (const attention::ContextParallelism& how : layouts(job)) {
      PlannedJob other = job;
      other.plan = plan;
      other.context_parallel = how;
      if (!check_job_allowed(other).ok()) continue;
      const StatusOr<PrefillTime> t = predict_prefill(other, hw);
      const StatusOr<RankMemory> m = predict_memory(other, hw);
      if (!t.ok() || !m.ok()) continue;
      r.candidates.push_back({plan, how, t->total_s, m->peak_bytes});
    }
  }
  // Fastest first; among equals the smaller peak, then the order above (stable).
  std::stable_sort(r.candidates.begin(), r.candidates.end(),
                   [](const Candidate& a, const Candidate& b) {
                     if (a.prefill_s != b.prefill_s) return a.prefill_s < b.prefill_s;
                     return a.peak_bytes < b.peak_bytes;
                   });
  return r;
}

std::string plan_to_json(const PlanReport& r, const Hardware& hw) {
  using Json = nlohmann::ordered_json;
  const model::ModelConfig& c = r.job.config;
  Json j;
  j["tokens"] = r.job.tokens;
  j["workers"] = r.job.workers;
  if (!r.job.rank_weights.empty()) j["rank_weights"] = r.job.rank_weights;
  j["plan"] = comm::plan_name(r.job.plan);
  add_layout(j, r.job.context_parallel);
  j["compute_dtype"] = dtype_name(r.job.compute);
  j["memory_per_worker"] = r.memory_per_worker > 0 ? Json(r.memory_per_worker) : Json(nullptr);
  Json mem;
  mem["tokens_per_rank"] = r.memory.tokens_per_rank;
  mem["process"] = r.memory.process_bytes;
  mem["weights"] = r.memory.weight_bytes;
  mem["activations"] = r.memory.activation_bytes;
  mem["buffers"] = r.memory.buffer_bytes;
  mem["caches"] = r.memory.cache_bytes;
  mem["peak"] = r.memory.peak_bytes;
  mem["peak_block"] = r.memory.peak_block >= 0 ? Json(r.memory.peak_block) : Json(nullptr);
  Json blocks = Json::array();
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockMemory& bm = r.memory.blocks[i];
    const BlockTime& bt = r.prefill.blocks[i];
    blocks.push_back({{"block", i},
                      {"mixer", model::mixer_kind_name(c.blocks[i].mixer)},
                      {"transient_bytes", bm.transient_bytes},
                      {"cache_bytes", bm.cache_bytes},
                      {"peak_bytes", bm.peak_bytes},
                      {"compute_s", bt.compute_s},
                      {"exchange_s", bt.exchange_s},
                      {"bytes_sent", bt.bytes_sent}});
  }
  mem["blocks"] = blocks;
  j["memory"] = mem;
  j["verdict"] = {
      {"fits", r.verdict.fits},
      {"oom_block", r.verdict.oom_block >= 0 ? Json(r.verdict.oom_block) : Json(nullptr)},
      {"workers_needed",
       r.verdict.workers_needed > 0 ? Json(r.verdict.workers_needed) : Json(nullptr)},
      {"text", r.verdict.text}};
  // Compute and exchange per block kind, summed over the blocks of that kind.
  Json by_kind = Json::object();
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string kind = model::mixer_kind_name(c.blocks[i].mixer);
    const BlockTime& bt = r.prefill.blocks[i];
    if (!by_kind.contains(kind)) by_kind[kind] = {{"compute_s", 0.0}, {"exchange_s", 0.0}};
    by_kind[kind]["compute_s"] = by_kind[kind]["compute_s"].get<double>() + bt.compute_s;
    by_kind[kind]["exchange_s"] = by_kind[kind]["exchange_s"].get<double>() + bt.exchange_s;
  }
  j["prefill"] = {{"compute_s", r.prefill.compute_s},
                  {"exchange_s", r.prefill.exchange_s},
                  {"overhead_s", r.prefill.overhead_s},
                  {"total_s", r.prefill.total_s},
                  {"bytes_sent_per_rank", r.prefill.bytes_sent},
                  {"by_kind", by_kind}};
  j["decode_s_per_token"] = r.decode_s_per_token >= 0 ? Json(r.decode_s_per_token) : Json(nullptr);
  Json candidates = Json::array();
  for (const Candidate& cand : r.candidates) {
    Json one = {{"plan", comm::plan_name(cand.plan)}};
    add_layout(one, cand.context_parallel);
    one["prefill_s"] = cand.prefill_s;
    one["peak_bytes"] = cand.peak_bytes;
    candidates.push_back(one);
  }
  j["best"] = candidates.empty() ? Json(nullptr) : candidates.front();
  j["candidates"] = candidates;
  j["hardware"] = Json::parse(hardware_to_json(hw));
  return j.dump(2) + "\n";
}

std::string memory_to_text(const PlanReport& r) {
  const RankMemory& m = r.memory;
  std::string out = "predicted memory per worker (busiest rank, " +
                    std::to_string(m.tokens_per_rank) + " tokens): " + human_bytes(m.peak_bytes) +
                    "\n";
  out += "  process " + human_bytes(m.process_bytes) + ", weights " + human_bytes(m.weight_bytes) +
         ", activations " + human_bytes(m.activation_bytes) + ", buffers " +
         human_bytes(m.buffer_bytes) + ", caches " + human_bytes(m.cache_bytes) + "\n";
  out += "  " + r.verdict.text + "\n";
  return out;
}

std::string plan_to_text(const PlanReport& r) {
  const model::ModelConfig& c = r.job.config;
  char line[256];
  std::string out;
  std::snprintf(line, sizeof line, "job        %lld tokens on %d workers, plan %s, %s%s\n",
                static_cast<long long>(r.job.tokens), r.job.workers, comm::plan_name(r.job.plan),
                r.job.context_parallel.to_string().c_str(),
                r.job.compute == DType::kBf16 ? ", bf16 compute" : "");
  out += line;
  if (!r.job.rank_weights.empty()) {
    out += "weights   ";
    for (size_t i = 0; i < r.job.rank_weights.size(); ++i) {
      std::snprintf(line, sizeof line, "%s%g", i > 0 ? "," : " ", r.job.rank_weights[i]);
      out += line;
    }
    out += " (relative worker speeds; the hardware is the fastest worker's)\n";
  }
  out += memory_to_text(r);
  std::snprintf(line, sizeof line, "%-22s %12s %12s %12s %14s %12s\n", "block", "peak", "transient",
                "compute", "exchange", "sent/rank");
  out += line;
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockMemory& bm = r.memory.blocks[i];
    const BlockTime& bt = r.prefill.blocks[i];
    std::snprintf(line, sizeof line, "%-22s %12s %12s %12s %14s %12s\n",
                  block_name(c, static_cast<int>(i)).c_str(), human_bytes(bm.peak_bytes).c_str(),
                  human_bytes(bm.transient_bytes).c_str(), human_seconds(bt.compute_s).c_str(),
                  human_seconds(bt.exchange_s).c_str(), human_bytes(bt.bytes_sent).c_str());
    out += line;
  }
  std::snprintf(
      line, sizeof line,
      "prefill    %s: compute %s, exchange %s, job overhead %s; %s sent per rank\n",
      human_seconds(r.prefill.total_s).c_str(), human_seconds(r.prefill.compute_s).c_str(),
      human_seconds(r.prefill.exchange_s).c_str(), human_seconds(r.prefill.overhead_s).c_str(),
      human_bytes(r.prefill.bytes_sent).c_str());
  out += line;
  if (r.decode_s_per_token >= 0) {
    out += "decode     " + human_seconds(r.decode_s_per_token) + " per generated token\n";
  }
  if (!r.candidates.empty()) {
    const Candidate& best = r.candidates.front();
    std::snprintf(line, sizeof line, "best       plan %s, %s: prefill %s, peak %s\n",
                  comm::plan_name(best.plan), best.context_parallel.to_string().c_str(),
                  human_seconds(best.prefill_s).c_str(), human_bytes(best.peak_bytes).c_str());
    out += line;
  }
  return out;
}

}  // namespace ringmaster::predict
