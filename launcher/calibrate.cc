#include "launcher/calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <tuple>
#include <utility>

#include "bench/gemm_rate.h"
#include "bench/kernel_bench.h"
#include "bench/link_rate.h"
#include "bench/stream_triad.h"
#include "comm/local_comm.h"
#include "core/stopwatch.h"
#include "io/atomic_file.h"
#include "launcher/bench_jobs.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/model.h"
#include "predict/planner.h"

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;

// Every block kind at the demo model's width (scripts/demo_config.json), for a machine-wide file.
constexpr std::string_view kAllKinds = R"({
  "format": "ringmaster-model/1", "vocab": "dna", "d_model": 128, "n_heads": 4, "n_kv_heads": 2,
  "head_dim": 32, "mlp_hidden": 256, "norm_eps": 1e-5, "rope_theta": 10000.0, "causal": true,
  "blocks": [
    {"mixer": "attention"},
    {"mixer": "window", "window": 256},
    {"mixer": "local", "group": 512},
    {"mixer": "fit", "group": 512, "latents": 8, "global_layers": 1},
    {"mixer": "atlas", "chunk": 64, "omega_window": 16, "memory_hidden": 64, "feature_degree": 1}
  ]
})";

// Model FLOPs per second of the forward of the model in `dir` (of `config`) over one record of
// `tokens` on one rank, computing in `compute`: the best of two runs after a warm-up.
StatusOr<double> forward_rate(const model::ModelConfig& config, int64_t tokens, int threads,
                              const fs::path& dir, DType compute) {
  RM_ASSIGN_OR_RETURN(model::Model m, model::Model::load(dir.string(), compute));
  const comm::RecordLayout layout({tokens});
  RM_ASSIGN_OR_RETURN(const comm::PartitionPlan plan,
                      comm::PartitionPlan::make(comm::PlanKind::kContiguous, tokens, 1));
  auto comms = comm::LocalComm::make_local_group(1, std::chrono::milliseconds(600000));
  ThreadPool pool(threads);
  const model::ShardContext ctx =
      model::make_shard_context(*comms[0], plan, layout, pool, attention::ContextParallel::kRing);
  std::mt19937 rng(3);
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() & 3);
  ids[0] = io::bos_id(config.vocab);
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    RM_ASSIGN_OR_RETURN(Tensor hf, m.forward(ctx, ids));
    RM_RETURN_IF_ERROR(m.finish_sends(ctx));
    if (i > 0) best = std::min(best, seconds_since(start));
  }
  const int64_t lengths[] = {tokens};
  return model::forward_flops(config, lengths, /*logits=*/false) / best;
}

// The dense GEMM at the MLP's shape, token-tiled as the model runs them (256 rows), and the
// attention kernel at the model's head_dim, with products in `compute`: FLOP/s each.
StatusOr<std::pair<double, double>> product_rates(const model::ModelConfig& config, int threads,
                                                  DType compute) {
  const double gemm =
      bench::gemm_gflops(compute, threads, 256, config.mlp_hidden, config.d_model) * 1e9;
  std::printf("gemm       %s [256 x %lld] x [%lld x %lld]: %.1f GFLOP/s\n", dtype_name(compute),
              static_cast<long long>(config.d_model), static_cast<long long>(config.d_model),
              static_cast<long long>(config.mlp_hidden), gemm / 1e9);
  bench::KernelBenchOptions kernel;
  kernel.lengths = {4096};
  kernel.head_dims = {config.head_dim};
  kernel.threads = {threads};
  kernel.causal = {true};
  kernel.rss_length = 0;
  kernel.quiet = true;
  kernel.dtype = dtype_name(compute);
  RM_ASSIGN_OR_RETURN(const auto rows, bench::run_kernel_bench(kernel));
  const double attention = rows.empty() ? 0 : rows.front().kernel_gflops * 1e9;
  std::printf("attention  %s kernel, head_dim %lld, L 4096 causal: %.1f GFLOP/s\n",
              dtype_name(compute), static_cast<long long>(config.head_dim), attention / 1e9);
  return std::make_pair(gemm, attention);
}

// What a whole job costs beyond the blocks, fitted from two jobs of `job_model` (L1 and 8 L1
// bases) computing in `compute`: the residual r(L) = wall - predicted blocks = a + b L gives the
// fixed overhead a and the per-token cost b (a bf16 job also converts its weights); the smaller
// job's peak RSS less its predicted data is the process itself.
struct JobCosts {
  double overhead_s = 0;
  double s_per_token = 0;
  int64_t process_bytes = 0;
};

StatusOr<JobCosts> job_costs(const model::ModelConfig& job_config, const std::string& job_model,
                             const fs::path& dir, const CalibrateOptions& o,
                             const predict::Hardware& hw, DType compute) {
  JobCosts costs;
  const int64_t lengths[2] = {o.job_tokens, 8 * o.job_tokens};
  double residual[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::string tag = std::to_string(lengths[i]);
    const std::string fasta = (dir / ("job" + tag + ".fa")).string();
    const std::string out = (dir / ("job" + tag + "." + dtype_name(compute))).string();
    if (!fs::exists(fasta)) RM_RETURN_IF_ERROR(write_random_fasta(fasta, lengths[i]));
    RM_RETURN_IF_ERROR(run_job({"--model", job_model, "--input", fasta, "--workers", "1",
                                "--threads", std::to_string(o.threads), "--compute-dtype",
                                dtype_name(compute), "--out", out, "--quiet"}));
    RM_ASSIGN_OR_RETURN(const nlohmann::json summary, read_summary(out + "/summary.json"));
    predict::PlannedJob job;
    job.config = job_config;
    job.tokens = lengths[i] + 1;
    job.workers = 1;
    job.compute = compute;
    RM_ASSIGN_OR_RETURN(const predict::PlanReport plan, predict::make_plan(job, hw, 0));
    const double wall_s = summary.value("wall_time_s", 0.0);
    const double rss = max_peak_rss_mib(summary) * (1 << 20);
    // The costs being measured must not be in the prediction they are the residual of.
    const double blocks_s = plan.prefill.total_s - plan.prefill.overhead_s;
    residual[i] = wall_s - blocks_s;
    const int64_t data_bytes = plan.memory.peak_bytes - hw.process_bytes;
    if (i == 0) costs.process_bytes = std::max<int64_t>(0, static_cast<int64_t>(rss) - data_bytes);
    std::printf(
        "job        %s %lld bases on 1 worker: %.3f s (%.3f s predicted blocks), peak RSS "
        "%.1f MiB (%.1f MiB predicted data)\n",
        dtype_name(compute), static_cast<long long>(lengths[i]), wall_s, blocks_s, rss / (1 << 20),
        static_cast<double>(data_bytes) / (1 << 20));
  }
  costs.s_per_token =
      std::max(0.0, (residual[1] - residual[0]) / static_cast<double>(lengths[1] - lengths[0]));
  costs.overhead_s =
      std::max(0.0, residual[0] - costs.s_per_token * static_cast<double>(lengths[0] + 1));
  std::printf("job        %s overhead %.3f s + %.2f us per token\n", dtype_name(compute),
              costs.overhead_s, costs.s_per_token * 1e6);
  return costs;
}

}  // namespace

StatusOr<predict::Hardware> run_calibrate(const CalibrateOptions& o) {
  model::ModelConfig config;
  if (!o.model_dir.empty()) {
    RM_ASSIGN_OR_RETURN(config, model::parse_config(o.model_dir + "/config.json"));
  } else if (!o.config_path.empty()) {
    RM_ASSIGN_OR_RETURN(config, model::parse_config(o.config_path));
  } else {
    RM_ASSIGN_OR_RETURN(config, model::parse_config_text(kAllKinds, "every block kind"));
  }
  const bool own_dir = o.work_dir.empty();
  const fs::path dir =
      own_dir ? fs::temp_directory_path() / ("ringmaster-calibrate-" + std::to_string(::getpid()))
              : fs::path(o.work_dir);
  fs::create_directories(dir);
  predict::Hardware hw;
  hw.threads = o.threads;

  // Each compute rate in f32 and in bf16 (--compute-dtype bf16: products read bf16).
  RM_ASSIGN_OR_RETURN(std::tie(hw.flops, hw.attention_flops),
                      product_rates(config, o.threads, DType::kF32));
  RM_ASSIGN_OR_RETURN(std::tie(hw.bf16.flops, hw.bf16.attention_flops),
                      product_rates(config, o.threads, DType::kBf16));
  for (int k = 0; k < predict::kNumMixerKinds; ++k) {
    const auto kind = static_cast<model::MixerKind>(k);
    model::ModelConfig one = config;
    one.blocks.clear();
    for (const model::BlockConfig& b : config.blocks) {
      if (b.mixer == kind) {
        one.blocks = {b};
        break;
      }
    }
    if (one.blocks.empty()) continue;
    const int64_t tokens =
        kind == model::MixerKind::kAttention ? o.attention_tokens : o.block_tokens;
    const fs::path kind_dir = dir / model::mixer_kind_name(kind);
    RM_RETURN_IF_ERROR(model::init_model(one, /*seed=*/1, kind_dir.string()));
    for (const DType compute : {DType::kF32, DType::kBf16}) {
      RM_ASSIGN_OR_RETURN(const double rate,
                          forward_rate(one, tokens, o.threads, kind_dir, compute));
      auto& rates = compute == DType::kBf16 ? hw.bf16.block_flops : hw.block_flops;
      rates[static_cast<size_t>(k)] = rate;
      std::printf("block      %-9s %s alone over %lld tokens: %.2f GFLOP/s (model FLOPs)\n",
                  model::mixer_kind_name(kind), dtype_name(compute), static_cast<long long>(tokens),
                  rate / 1e9);
    }
  }

  ThreadPool pool(o.threads);
  hw.memory_bandwidth = bench::triad_gb_per_s(pool) * 1e9;
  std::printf("memory     STREAM triad: %.1f GB/s\n", hw.memory_bandwidth / 1e9);
  RM_ASSIGN_OR_RETURN(const bench::LinkRate link, bench::measure_ucx_link());
  hw.link_bandwidth = link.bandwidth;
  hw.link_latency = link.latency;
  std::printf("link       UcxComm pair: %.2f GB/s at 16 MiB, latency %.2f us\n",
              hw.link_bandwidth / 1e9, hw.link_latency * 1e6);

  // The tiny jobs: what neither rates nor the planner's job data explain.
  // Without global attention blocks: their quadratic cost would leak any error of their rate
  // into the per-token fit (a 32K-token job is not a 16K one), and the fit is for linear costs.
  model::ModelConfig job_config = config;
  std::erase_if(job_config.blocks, [](const model::BlockConfig& b) {
    return b.mixer == model::MixerKind::kAttention;
  });
  if (job_config.blocks.empty())
    job_config.blocks = {{.mixer = model::MixerKind::kWindow, .window = 256}};
  const std::string job_model = (dir / "job_model").string();
  RM_RETURN_IF_ERROR(model::init_model(job_config, /*seed=*/1, job_model));
  RM_ASSIGN_OR_RETURN(const JobCosts f32,
                      job_costs(job_config, job_model, dir, o, hw, DType::kF32));
  hw.job_overhead_s = f32.overhead_s;
  hw.job_s_per_token = f32.s_per_token;
  hw.process_bytes = f32.process_bytes;
  RM_ASSIGN_OR_RETURN(const JobCosts bf16,
                      job_costs(job_config, job_model, dir, o, hw, DType::kBf16));
  hw.bf16.job_overhead_s = bf16.overhead_s;
  hw.bf16.job_s_per_token = bf16.s_per_token;
  if (own_dir) fs::remove_all(dir);
  RM_RETURN_IF_ERROR(predict::validate_hardware(hw, "the measured hardware"));
  const std::string text = predict::hardware_to_json(hw);
  if (!o.out.empty()) {
    RM_RETURN_IF_ERROR(io::write_file_atomically(o.out, text));
    std::printf("wrote %s\n", o.out.c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return hw;
}

}  // namespace ringmaster::launcher
