#include "launcher/model_bench.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "launcher/bench_jobs.h"

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
  std::printf("%9lld %7d %9.1f %11.0f %10.2f %14.1f\n", static_cast<long long>(r.tokens), r.workers,
              r.wall_s, r.tokens_per_s, r.efficiency, r.max_peak_rss_mib);
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
  std::printf("model %s, task %s, plan %s, %d thread(s) per worker\n", options.model_dir.c_str(),
              options.task.c_str(), options.plan.c_str(), options.threads);
  std::printf("%9s %7s %9s %11s %10s %14s\n", "tokens", "workers", "wall_s", "tokens/s",
              "efficiency", "peak_rss_MiB");
  std::vector<ModelBenchRow> rows;
  Status status = ok_status();
  for (const int64_t tokens : options.tokens) {
    const std::string input = (dir / ("bench_" + std::to_string(tokens) + ".fa")).string();
    status = write_random_fasta(input, tokens);
    if (!status.ok()) break;
    std::map<int, double> rate;  // workers -> tokens/s
    for (const int workers : options.workers) {
      const std::string out =
          (dir / ("out_" + std::to_string(tokens) + "_" + std::to_string(workers))).string();
      fs::remove_all(out);
      status = run_job({"--model", options.model_dir, "--input", input, "--task", options.task,
                        "--workers", std::to_string(workers), "--threads",
                        std::to_string(options.threads), "--plan", options.plan, "--quiet", "--out",
                        out});
      if (!status.ok()) break;
      StatusOr<ModelBenchRow> row = summary_row(out + "/summary.json", tokens, workers);
      if (!row.ok()) {
        status = row.status();
        break;
      }
      rate[workers] = row->tokens_per_s;
      if (rate.count(1) != 0 && rate[1] > 0) {
        row->efficiency = row->tokens_per_s / (workers * rate[1]);
      }
      print_row(*row);
      rows.push_back(*row);
      fs::remove_all(out);
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
