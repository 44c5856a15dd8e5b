// `ringmaster bench report` (launcher/sweep.h): the runs of a sweep as a CSV, a markdown table
// and, through scripts/sweep_plot.py, PNG plots.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "io/atomic_file.h"
#include "launcher/bench_jobs.h"
#include "launcher/spawn.h"
#include "launcher/sweep.h"

#ifndef RINGMASTER_SOURCE_DIR
#define RINGMASTER_SOURCE_DIR ""
#endif

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;

// The repeats of one configuration, averaged.
struct Row {
  std::string mode, model, task, plan, context_parallel;
  int threads = 1;
  int64_t tokens = 0;
  int workers = 0;
  int repeats = 0;
  double wall_s = 0, wall_min_s = 0, wall_max_s = 0;
  double compute_s = 0, wait_s = 0;  // per rank, mean over repeats
  double bytes_sent = 0, bytes_received = 0;
  double max_peak_mib = 0;  // the largest worker's, the max over repeats
  std::map<std::string, std::pair<double, double>> phases;  // name -> (compute_s, wait_s)
  double predicted_s = -1, predicted_peak_mib = -1;
  double strong_efficiency = -1, weak_efficiency = -1;

  double tokens_per_s() const { return wall_s > 0 ? static_cast<double>(tokens) / wall_s : 0; }
  auto group() const { return std::tie(mode, model, task, plan, context_parallel, threads); }
};

using Key =
    std::tuple<std::string, std::string, std::string, std::string, std::string, int, int64_t, int>;

std::string number(double v, int digits) {
  if (!std::isfinite(v) || v < 0) return "";
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, v);
  return text;
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string ratio(double a, double b) { return a >= 0 && b > 0 ? number(a / b, 2) : ""; }

// Adds one run file's numbers to its configuration's row (sums; read_rows averages them). The
// file is read whole before anything is added, so a bad field (an exception) adds nothing.
void add_run(std::map<Key, Row>& rows, const nlohmann::json& run) {
  if (run.value("format", "") != "ringmaster-sweep-run/1") return;
  if (run.value("status", "") != "ok") return;
  const nlohmann::json& c = run.at("config");
  Row r;
  r.mode = c.value("mode", "");
  r.model = c.contains("model") && c["model"].is_string() ? c["model"].get<std::string>() : "";
  r.task = c.value("task", "");
  r.plan = c.value("plan", "");
  r.context_parallel = c.value("context_parallel", "");
  // Hybrids of different degrees are different configurations: "hybrid U2".
  if (c.contains("ulysses_degree") && c["ulysses_degree"].is_number_integer()) {
    r.context_parallel += " U" + std::to_string(c["ulysses_degree"].get<int>());
  }
  r.threads = c.value("threads", 1);
  r.tokens = c.value("tokens", int64_t{0});
  r.workers = c.value("workers", 0);
  r.repeats = 1;
  r.wall_s = r.wall_min_s = r.wall_max_s = run.value("wall_s", 0.0);
  r.compute_s = run.value("compute_s", 0.0);
  r.wait_s = run.value("wait_s", 0.0);
  r.bytes_sent = run.value("bytes_sent", 0.0);
  r.bytes_received = run.value("bytes_received", 0.0);
  r.max_peak_mib = run.value("max_peak_rss_bytes", 0.0) / (1 << 20);
  if (r.mode == "attention-check") {
    // No summary.json: only the wall time was measured; the rest stays blank, not zero.
    r.compute_s = r.wait_s = r.bytes_sent = r.bytes_received = r.max_peak_mib = -1;
  }
  // (value() with a JSON default throws in nlohmann 3.11: look the objects up instead.)
  if (const auto phases = run.find("phases"); phases != run.end() && phases->is_object()) {
    for (const auto& [name, p] : phases->items()) {
      r.phases[name] = {p.value("compute_s", 0.0), p.value("wait_s", 0.0)};
    }
  }
  if (const auto predicted = run.find("predicted");
      predicted != run.end() && predicted->is_object()) {
    r.predicted_s = predicted->value("wall_s", -1.0);
    r.predicted_peak_mib = predicted->value("peak_bytes_per_worker", 0.0) / (1 << 20);
  }
  const Key key{r.mode,    r.model,  r.task,   r.plan, r.context_parallel,
                r.threads, r.tokens, r.workers};
  auto [it, fresh] = rows.emplace(key, r);
  if (fresh) return;
  Row& row = it->second;
  row.wall_min_s = std::min(row.wall_min_s, r.wall_s);
  row.wall_max_s = std::max(row.wall_max_s, r.wall_s);
  row.wall_s += r.wall_s;
  row.compute_s += r.compute_s;
  row.wait_s += r.wait_s;
  row.bytes_sent += r.bytes_sent;
  row.bytes_received += r.bytes_received;
  row.max_peak_mib = std::max(row.max_peak_mib, r.max_peak_mib);
  for (const auto& [name, p] : r.phases) {
    row.phases[name].first += p.first;
    row.phases[name].second += p.second;
  }
  ++row.repeats;
}

StatusOr<std::vector<Row>> read_rows(const std::string& dir) {
  std::map<Key, Row> rows;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) return errno_status(dir, ec.value());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    StatusOr<nlohmann::json> run = read_summary(file.string());
    if (!run.ok() || !run->is_object() || !run->contains("config")) continue;
    // A run file is ours, but may have been edited: a field of the wrong type skips the file.
    try {
      add_run(rows, *run);
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "skipping %s: %s\n", file.c_str(), e.what());
    }
  }

  std::vector<Row> out;
  for (auto& [key, row] : rows) {
    const double n = row.repeats;
    row.wall_s /= n;
    row.compute_s /= n;
    row.wait_s /= n;
    row.bytes_sent /= n;
    row.bytes_received /= n;
    for (auto& [name, p] : row.phases) p = {p.first / n, p.second / n};
    out.push_back(std::move(row));
  }
  // Strong scaling: against 1 worker on the same tokens; weak: against 1 worker on tokens / P.
  for (Row& row : out) {
    for (const Row& one : out) {
      if (one.workers != 1 || one.group() != row.group() || one.wall_s <= 0) continue;
      if (one.tokens == row.tokens) {
        row.strong_efficiency = row.tokens_per_s() / (row.workers * one.tokens_per_s());
      }
      if (one.tokens * row.workers == row.tokens) row.weak_efficiency = one.wall_s / row.wall_s;
    }
  }
  return out;
}

std::string csv(const std::vector<Row>& rows, const std::vector<std::string>& phases) {
  std::ostringstream out;
  out << "mode,model,task,plan,context_parallel,threads,tokens,workers,repeats,wall_s,wall_min_s,"
         "wall_max_s,tokens_per_s,strong_efficiency,weak_efficiency,compute_s,wait_s,bytes_sent,"
         "bytes_received,max_peak_rss_mib,predicted_wall_s,predicted_over_measured,"
         "predicted_peak_mib,predicted_peak_over_measured";
  for (const std::string& p : phases) out << ",compute_s:" << p << ",wait_s:" << p;
  out << "\n";
  for (const Row& r : rows) {
    out << field(r.mode) << ',' << field(r.model) << ',' << field(r.task) << ',' << field(r.plan)
        << ',' << field(r.context_parallel) << ',' << r.threads << ',' << r.tokens << ','
        << r.workers << ',' << r.repeats << ',' << number(r.wall_s, 4) << ','
        << number(r.wall_min_s, 4) << ',' << number(r.wall_max_s, 4) << ','
        << number(r.tokens_per_s(), 1) << ',' << number(r.strong_efficiency, 3) << ','
        << number(r.weak_efficiency, 3) << ',' << number(r.compute_s, 4) << ','
        << number(r.wait_s, 4) << ',' << number(r.bytes_sent, 0) << ','
        << number(r.bytes_received, 0) << ',' << number(r.max_peak_mib, 1) << ','
        << number(r.predicted_s, 4) << ',' << ratio(r.predicted_s, r.wall_s) << ','
        << number(r.predicted_peak_mib, 1) << ',' << ratio(r.predicted_peak_mib, r.max_peak_mib);
    for (const std::string& p : phases) {
      const auto it = r.phases.find(p);
      out << ',' << (it == r.phases.end() ? "" : number(it->second.first, 4)) << ','
          << (it == r.phases.end() ? "" : number(it->second.second, 4));
    }
    out << "\n";
  }
  return out.str();
}

std::string markdown(const std::vector<Row>& rows) {
  std::ostringstream out;
  out << "| model | tokens | workers | runs | wall s | tokens/s | strong eff. | weak eff. | "
         "compute s | wait s | sent MiB | peak MiB | predicted s | pred./meas. |\n"
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
         "---: | ---: |\n";
  for (const Row& r : rows) {
    const std::string name =
        r.model.empty() ? r.mode : fs::path(r.model).lexically_normal().filename().string();
    out << "| " << name << " " << r.task << " | " << r.tokens << " | " << r.workers << " | "
        << r.repeats << " | " << number(r.wall_s, 2) << " | " << number(r.tokens_per_s(), 0)
        << " | " << number(r.strong_efficiency, 2) << " | " << number(r.weak_efficiency, 2) << " | "
        << number(r.compute_s, 2) << " | " << number(r.wait_s, 2) << " | "
        << number(r.bytes_sent / (1 << 20), 1) << " | " << number(r.max_peak_mib, 0) << " | "
        << number(r.predicted_s, 2) << " | " << ratio(r.predicted_s, r.wall_s) << " |\n";
  }
  out << "\ncompute and wait: per rank, mean over the runs; sent: all ranks; peak: the largest "
         "worker's RSS.\n";
  return out.str();
}

Status run_plot_script(const ReportOptions& o) {
  const std::string script = !o.plot_script.empty()
                                 ? o.plot_script
                                 : std::string(RINGMASTER_SOURCE_DIR) + "/scripts/sweep_plot.py";
  if (!fs::exists(script)) return not_found(script + ": the plotting script is not there");
  SpawnSpec spec;
  spec.path = o.python;
  spec.args = {o.python, script, (fs::path(o.runs_dir) / "report.csv").string(), o.runs_dir};
  spec.env = environment_with({});
  return spawn_and_wait(spec, o.python + " " + script);
}

}  // namespace

std::string source_commit() {
  const std::string dir = RINGMASTER_SOURCE_DIR;
  if (dir.empty()) return "unknown";
  auto first_line = [](const std::string& command) {
    std::string out;
    if (std::FILE* p = ::popen(command.c_str(), "r")) {
      char buffer[256];
      while (std::fgets(buffer, sizeof(buffer), p)) out += buffer;
      ::pclose(p);
    }
    return out;
  };
  std::string commit = first_line("git -C '" + dir + "' rev-parse HEAD 2>/dev/null");
  if (commit.size() < 40) return "unknown";
  commit.resize(40);
  if (!first_line("git -C '" + dir + "' status --porcelain --untracked-files=no 2>/dev/null")
           .empty()) {
    commit += "+dirty";
  }
  return commit;
}

Status run_report(const ReportOptions& o) {
  RM_ASSIGN_OR_RETURN(const std::vector<Row> rows, read_rows(o.runs_dir));
  if (rows.empty()) return not_found(o.runs_dir + ": no finished (\"ok\") sweep run");
  std::set<std::string> names;
  for (const Row& r : rows) {
    for (const auto& [name, p] : r.phases) names.insert(name);
  }
  const std::vector<std::string> phases(names.begin(), names.end());
  const std::string csv_path = (fs::path(o.runs_dir) / "report.csv").string();
  const std::string md_path = (fs::path(o.runs_dir) / "report.md").string();
  RM_RETURN_IF_ERROR(io::write_file_atomically(csv_path, csv(rows, phases)));
  const std::string table = markdown(rows);
  RM_RETURN_IF_ERROR(io::write_file_atomically(md_path, table));
  std::fputs(table.c_str(), stdout);
  std::printf("wrote %s and %s\n", csv_path.c_str(), md_path.c_str());
  if (o.plots) RM_RETURN_IF_ERROR(run_plot_script(o));
  return ok_status();
}

}  // namespace ringmaster::launcher
