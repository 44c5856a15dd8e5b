#include "launcher/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench/gemm_rate.h"
#include "core/gemm.h"
#include "launcher/bench_jobs.h"
#include "model/config.h"
#include "model/flops.h"

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;

StatusOr<ModelBenchRow> summary_row(const std::string& path, int64_t tokens, int workers) {
  RM_ASSIGN_OR_RETURN(const nlohmann::json summary, read_summary(path));
  ModelBenchRow row;
  row.tokens = tokens;
  row.workers = workers;
  row.wall_s = summary.value("wall_time_s", 0.0);
  row.tokens_per_s = row.wall_s > 0 ? static_cast<double>(tokens) / row.wall_s : 0;
  row.max_peak_rss_mib = max_peak_rss_mib(summary);
  return row;
}

void print_row(const ModelBenchRow& r) {
  std::printf("%9lld %7d %5s %9.1f %11.0f %10.2f %8.2f %9.1f %9.1f %6.3f %14.1f\n",
              static_cast<long long>(r.tokens), r.workers, r.compute_dtype.c_str(), r.wall_s,
              r.tokens_per_s, r.efficiency, r.speedup, r.model_gflops, r.gemm_gflops, r.mfu,
              r.max_peak_rss_mib);
  std::fflush(stdout);
}

}  // namespace

StatusOr<std::vector<ModelBenchRow>> run_model_bench(const ModelBenchOptions& options) {
  if (options.model_dir.empty()) return invalid_argument("bench model needs --model DIR");
  const bool own_dir = options.work_dir.empty();
  const fs::path dir =
      own_dir ? fs::temp_directory_path() / ("ringmaster-bench-model-" + std::to_string(::getpid()))
              : fs::path(options.work_dir);
  fs::create_directories(dir);
  RM_ASSIGN_OR_RETURN(const model::ModelConfig config,
                      model::parse_config(options.model_dir + "/config.json"));
  std::vector<DType> dtypes;
  for (const std::string& name : options.compute_dtypes) {
    StatusOr<DType> dtype = parse_dtype(name);
    if (!dtype.ok() || (*dtype != DType::kF32 && *dtype != DType::kBf16)) {
      return invalid_argument("bench model: --compute-dtype " + name + " is not f32 or bf16");
    }
    dtypes.push_back(*dtype);
  }
  std::printf("model %s, task %s, plan %s, %d thread(s) per worker\n", options.model_dir.c_str(),
              options.task.c_str(), options.plan.c_str(), options.threads);
  for (const DType dtype : dtypes) {
    std::printf("%s products: %s\n", dtype_name(dtype), cpu_gemm_path(dtype).c_str());
  }
  std::printf("%9s %7s %5s %9s %11s %10s %8s %9s %9s %6s %14s\n", "tokens", "workers", "dtype",
              "wall_s", "tokens/s", "efficiency", "speedup", "model_GF/s", "gemm_GF/s", "MFU",
              "peak_rss_MiB");
  // The GEMM rate on as many cores as a row's job uses, measured once per (dtype, cores).
  std::map<std::pair<DType, int>, double> gemm_rate;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto rate_for = [&](DType dtype, int workers) {
    const int threads = std::min(cores, workers * options.threads);
    auto it = gemm_rate.find({dtype, threads});
    if (it == gemm_rate.end()) {
      it = gemm_rate.emplace(std::pair{dtype, threads}, bench::square_gemm_gflops(dtype, threads))
               .first;
    }
    return it->second;
  };
  std::vector<ModelBenchRow> rows;
  Status status = ok_status();
  for (const int64_t tokens : options.tokens) {
    const std::string input = (dir / ("bench_" + std::to_string(tokens) + ".fa")).string();
    status = write_random_fasta(input, tokens);
    if (!status.ok()) break;
    const std::vector<int64_t> fed = {tokens + 1};  // one record: <bos> and the bases
    const double model_gflop = model::forward_flops(config, fed, options.task == "score") / 1e9;
    std::map<std::pair<DType, int>, double> rate;  // (dtype, workers) -> tokens/s
    // One job; its row has the summary's numbers only.
    auto run_once = [&](int workers, DType dtype) -> StatusOr<ModelBenchRow> {
      const std::string out = (dir / ("out_" + std::to_string(tokens) + "_" +
                                      std::to_string(workers) + "_" + dtype_name(dtype)))
                                  .string();
      fs::remove_all(out);
      RM_RETURN_IF_ERROR(run_job({"--model", options.model_dir, "--input", input, "--task",
                                  options.task, "--workers", std::to_string(workers), "--threads",
                                  std::to_string(options.threads), "--plan", options.plan,
                                  "--compute-dtype", dtype_name(dtype), "--quiet", "--out", out}));
      StatusOr<ModelBenchRow> row = summary_row(out + "/summary.json", tokens, workers);
      fs::remove_all(out);
      return row;
    };
    for (const int workers : options.workers) {
      // Repeats interleave the dtypes, so a neighbour's load falls on both alike; the fastest
      // run of each dtype is its row.
      std::map<DType, ModelBenchRow> best;
      for (int repeat = 0; repeat < options.repeats && status.ok(); ++repeat) {
        for (const DType dtype : dtypes) {
          StatusOr<ModelBenchRow> row = run_once(workers, dtype);
          if (!row.ok()) {
            status = row.status();
            break;
          }
          if (best.count(dtype) == 0 || row->wall_s < best[dtype].wall_s) best[dtype] = *row;
        }
      }
      if (!status.ok()) break;
      for (const DType dtype : dtypes) {
        ModelBenchRow row = best[dtype];
        row.compute_dtype = dtype_name(dtype);
        rate[{dtype, workers}] = row.tokens_per_s;
        const double one = rate.count({dtype, 1}) != 0 ? rate[{dtype, 1}] : 0;
        if (one > 0) row.efficiency = row.tokens_per_s / (workers * one);
        const double f32 =
            rate.count({DType::kF32, workers}) != 0 ? rate[{DType::kF32, workers}] : 0;
        if (f32 > 0) row.speedup = row.tokens_per_s / f32;
        row.model_gflops = row.wall_s > 0 ? model_gflop / row.wall_s : 0;
        row.gemm_gflops = rate_for(dtype, workers);
        row.mfu = row.gemm_gflops > 0 ? row.model_gflops / row.gemm_gflops : 0;
        print_row(row);
        rows.push_back(row);
      }
    }
    fs::remove(input);
    if (!status.ok()) break;
  }
  if (own_dir) fs::remove_all(dir);
  RM_RETURN_IF_ERROR(status);
  if (!options.json_path.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const ModelBenchRow& r : rows) {
      out.push_back({{"tokens", r.tokens},
                     {"workers", r.workers},
                     {"compute_dtype", r.compute_dtype},
                     {"speedup", r.speedup},
                     {"model_gflops", r.model_gflops},
                     {"gemm_gflops", r.gemm_gflops},
                     {"mfu", r.mfu},
                     {"wall_s", r.wall_s},
                     {"tokens_per_s", r.tokens_per_s},
                     {"efficiency", r.efficiency},
                     {"max_peak_rss_mib", r.max_peak_rss_mib}});
    }
    std::ofstream(options.json_path) << out.dump(2) << "\n";
  }
  return rows;
}

}  // namespace ringmaster::launcher
