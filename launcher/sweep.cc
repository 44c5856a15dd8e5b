#include "launcher/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "comm/partition.h"
#include "io/atomic_file.h"
#include "io/outputs.h"
#include "launcher/bench_jobs.h"
#include "launcher/plan_command.h"
#include "model/config.h"
#include "predict/planner.h"

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// j[key] when j is an object holding it, else null (nlohmann's value() throws on a non-object).
const nlohmann::json& field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}
double number_of(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = field(j, key);
  return v.is_number() ? v.get<double>() : 0.0;
}
int64_t count_of(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = field(j, key);
  return v.is_number() ? v.get<int64_t>() : 0;
}

// The sweep's identity of one run: the file name, without ".json".
std::string run_id(const SweepOptions& o, const attention::ContextParallelism& layout,
                   int64_t tokens, int workers, int repeat) {
  const std::string mode =
      o.attention_check ? "attention" : fs::path(o.model_dir).lexically_normal().filename();
  // The ring's runs keep the plain name; other layouts say theirs.
  std::string cp;
  if (layout.how != attention::ContextParallel::kRing) {
    cp = std::string("_") + attention::context_parallel_name(layout.how);
  }
  if (layout.how == attention::ContextParallel::kHybrid)
    cp += std::to_string(layout.ulysses_degree);
  return mode + "_" + (o.attention_check ? std::string("check") : o.task) + cp + "_t" +
         std::to_string(tokens) + "_w" + std::to_string(workers) + "_r" + std::to_string(repeat);
}

// A run's file says it is done ("ok"), or failed and not to be rerun.
bool already_done(const std::string& path, bool rerun_failed) {
  if (!fs::exists(path)) return false;
  StatusOr<nlohmann::json> run = read_summary(path);
  if (!run.ok()) return false;  // unreadable: run again
  const nlohmann::json& status_field = field(*run, "status");
  const std::string status = status_field.is_string() ? status_field.get<std::string>() : "";
  return status == "ok" || (status == "failed" && !rerun_failed);
}

Json host_json() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  Json host;
  host["name"] = name;
  host["cpus"] = std::thread::hardware_concurrency();
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  host["load_1m"] = load >= 0 ? Json(load) : Json(nullptr);
  return host;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// The planner's prediction for the run, or null (the attention check, or a job it refuses).
Json predicted_json(const SweepOptions& o, const attention::ContextParallelism& layout,
                    const predict::Hardware& hw, int64_t tokens, int workers) {
  if (o.attention_check) return nullptr;
  StatusOr<model::ModelConfig> config = model::parse_config(o.model_dir + "/config.json");
  StatusOr<comm::PlanKind> plan = comm::parse_plan(o.plan);
  StatusOr<predict::Task> task = predict::parse_task(o.task);
  if (!config.ok() || !plan.ok() || !task.ok()) return nullptr;
  predict::PlannedJob job;
  job.config = std::move(config).value();
  job.tokens = tokens + 1;  // <bos>
  job.workers = workers;
  job.plan = *plan;
  job.context_parallel = layout;
  job.task = *task;
  StatusOr<predict::PlanReport> report = predict::make_plan(job, hw, 0);
  if (!report.ok()) return nullptr;
  Json p;
  p["wall_s"] = report->prefill.total_s;
  p["compute_s"] = report->prefill.compute_s;
  p["exchange_s"] = report->prefill.exchange_s;
  p["overhead_s"] = report->prefill.overhead_s;
  p["bytes_sent_per_rank"] = report->prefill.bytes_sent;
  p["peak_bytes_per_worker"] = report->memory.peak_bytes;
  return p;
}

// The run's measured fields from the job's summary.json (summary.json's "telemetry" sums over
// ranks; the run file keeps per-rank means of times and sums of bytes).
void add_measured(Json& run, const nlohmann::json& summary, int workers) {
  run["wall_s"] = number_of(summary, "wall_time_s");
  const nlohmann::json& rate = field(summary, "tokens_per_s");
  run["tokens_per_s"] = rate.is_number() ? Json(rate.get<double>()) : Json(nullptr);
  const nlohmann::json& telemetry = field(summary, "telemetry");
  const double ranks = std::max(1, workers);
  run["compute_s"] = number_of(telemetry, "compute_s") / ranks;
  run["wait_s"] = number_of(telemetry, "wait_s") / ranks;
  run["bytes_sent"] = count_of(telemetry, "bytes_sent");
  run["bytes_received"] = count_of(telemetry, "bytes_received");
  Json phases = Json::object();
  const nlohmann::json& by_name = field(telemetry, "phases");
  if (by_name.is_object()) {
    for (const auto& [name, p] : by_name.items()) {
      Json phase;
      phase["blocks_per_rank"] = number_of(p, "blocks") / ranks;
      for (const char* key : {"wall_s", "compute_s", "wait_s"}) {
        phase[key] = number_of(p, key) / ranks;
      }
      phase["bytes_sent"] = count_of(p, "bytes_sent");
      phase["bytes_received"] = count_of(p, "bytes_received");
      phases[name] = std::move(phase);
    }
  }
  run["phases"] = std::move(phases);
  Json peaks = Json::array();
  int64_t max_peak = 0;
  const nlohmann::json& memory = field(summary, "peak_memory");
  if (memory.is_array()) {
    for (const auto& peak : memory) {
      const int64_t bytes = count_of(peak, "peak_rss_bytes");
      peaks.push_back(bytes);
      max_peak = std::max(max_peak, bytes);
    }
  }
  run["peak_rss_bytes"] = std::move(peaks);
  run["max_peak_rss_bytes"] = max_peak;
}

}  // namespace

StatusOr<int64_t> parse_token_count(const std::string& text) {
  if (text.empty()) return invalid_argument("an empty token count");
  int64_t scale = 1;
  std::string digits = text;
  const char last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  if (last == 'k' || last == 'm') {
    scale = last == 'k' ? 1024 : 1024 * 1024;
    digits.pop_back();
  }
  if (digits.empty() || digits.size() > 12 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return invalid_argument("token count '" + text + "' is not N, Nk or Nm");
  }
  const int64_t n = std::stoll(digits) * scale;
  if (n < 1) return invalid_argument("token count '" + text + "' is not positive");
  return n;
}

StatusOr<SweepCounts> run_sweep(const SweepOptions& o) {
  if (o.attention_check == !o.model_dir.empty()) {
    return invalid_argument("bench sweep needs one of --model DIR and --attention-check");
  }
  if (o.repeat < 1) return invalid_argument("--repeat must be at least 1");
  RM_ASSIGN_OR_RETURN(const attention::ContextParallelism layout,
                      parse_layout(o.context_parallel, o.ulysses_degree));
  const bool hybrid = layout.how == attention::ContextParallel::kHybrid;
  std::vector<int64_t> tokens;
  for (const std::string& t : o.tokens) {
    RM_ASSIGN_OR_RETURN(const int64_t n, parse_token_count(t));
    tokens.push_back(n);
  }
  for (const int w : o.workers) {
    if (w < 1) return invalid_argument("--workers: " + std::to_string(w) + " is not positive");
  }
  predict::Hardware hw = predict::typical_hardware();
  if (!o.hardware_path.empty()) {
    RM_ASSIGN_OR_RETURN(hw, predict::read_hardware_file(o.hardware_path));
  }
  std::error_code ec;
  fs::create_directories(fs::path(o.out) / "work", ec);
  if (ec) return errno_status(o.out + ": cannot create it", ec.value());
  const std::string commit = source_commit();
  SweepCounts counts;
  for (const int64_t n : tokens) {
    const std::string input = (fs::path(o.out) / "work" / ("bases_" + std::to_string(n) + ".fa"));
    // Repeats outside workers: a neighbour's load spreads over every worker count alike.
    for (int repeat = 0; repeat < o.repeat; ++repeat) {
      for (const int workers : o.workers) {
        const std::string id = run_id(o, layout, n, workers, repeat);
        if (hybrid && workers % layout.ulysses_degree != 0) {
          std::printf("%-40s skipped: --ulysses-degree %d does not divide %d workers\n", id.c_str(),
                      layout.ulysses_degree, workers);
          ++counts.skipped;
          continue;
        }
        const std::string path = (fs::path(o.out) / (id + ".json")).string();
        if (already_done(path, o.rerun_failed)) {
          std::printf("%-40s skipped: done\n", id.c_str());
          ++counts.skipped;
          continue;
        }
        if (!o.attention_check && !fs::exists(input)) {
          RM_RETURN_IF_ERROR(write_random_fasta(input, n));
        }
        Json run;
        run["format"] = "ringmaster-sweep-run/1";
        run["id"] = id;
        Json config;
        config["mode"] = o.attention_check ? "attention-check" : "model";
        config["model"] = o.attention_check ? Json(nullptr) : Json(o.model_dir);
        config["task"] = o.attention_check ? "check" : o.task;
        config["plan"] = o.plan;
        config["context_parallel"] = o.context_parallel;
        config["ulysses_degree"] = hybrid ? Json(layout.ulysses_degree) : Json(nullptr);
        config["tokens"] = n;
        config["workers"] = workers;
        config["threads"] = o.threads;
        config["repeat"] = repeat;
        run["config"] = std::move(config);
        run["git_commit"] = commit;
        run["host"] = host_json();
        run["started_at"] = utc_now();
        const std::string job_out = (fs::path(o.out) / "work" / id).string();
        fs::remove_all(job_out, ec);
        std::vector<std::string> args = {"--workers",
                                         std::to_string(workers),
                                         "--threads",
                                         std::to_string(o.threads),
                                         "--plan",
                                         o.plan,
                                         "--context-parallel",
                                         o.context_parallel};
        if (hybrid) {
          args.insert(args.end(), {"--ulysses-degree", std::to_string(layout.ulysses_degree)});
        }
        if (o.attention_check) {
          args.insert(args.end(), {"--tokens", std::to_string(n), "--out", job_out + ".npy"});
        } else {
          args.insert(args.end(), {"--model", o.model_dir, "--input", input, "--task", o.task,
                                   "--quiet", "--out", job_out});
        }
        const auto start = std::chrono::steady_clock::now();
        Status status = run_job(args);
        const double launcher_wall_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        run["launcher_wall_s"] = launcher_wall_s;  // the whole `ringmaster run`, start to exit
        const std::string summary_path = o.attention_check
                                             ? io::check_summary_path(job_out + ".npy")
                                             : job_out + "/summary.json";
        if (status.ok()) {
          StatusOr<nlohmann::json> summary = read_summary(summary_path);
          if (summary.ok()) {
            add_measured(run, *summary, workers);
          } else {
            status = summary.status();
          }
        }
        run["predicted"] = predicted_json(o, layout, hw, n, workers);
        run["status"] = status.ok() ? "ok" : "failed";
        if (!status.ok()) run["error"] = status.to_string();
        fs::remove_all(job_out, ec);
        fs::remove(job_out + ".npy", ec);
        fs::remove(io::check_summary_path(job_out + ".npy"), ec);
        RM_RETURN_IF_ERROR(io::write_file_atomically(path, run.dump(2) + "\n"));
        if (status.ok()) {
          ++counts.ran;
          std::printf("%-40s ok: %.2f s, %.0f tokens/s\n", id.c_str(), run["wall_s"].get<double>(),
                      run["tokens_per_s"].is_number() ? run["tokens_per_s"].get<double>() : 0.0);
        } else {
          ++counts.failed;
          std::printf("%-40s FAILED: %s\n", id.c_str(), status.to_string().c_str());
        }
        std::fflush(stdout);
      }
    }
    fs::remove(input, ec);
  }
  std::printf("sweep: %d run, %d skipped (done), %d failed; files in %s\n", counts.ran,
              counts.skipped, counts.failed, o.out.c_str());
  return counts;
}

}  // namespace ringmaster::launcher
