#include "io/outputs.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numbers>
#include <utility>

#include "io/atomic_file.h"

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;

// Writes `content` to a new file at `path`, checking every step (close included: NFS reports
// delayed write errors there).
Status write_file(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(path, errno);
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return errno_status(path, err);
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  if (::close(fd) != 0) return errno_status(path, errno);
  return ok_status();
}

Status fsync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status(path + ": fsync", err);
  return ok_status();
}

Status check_tsv_name(const std::string& path, std::string_view name) {
  if (name.find_first_of("\t\r\n") != std::string_view::npos) {
    return invalid_argument(path + ": record name '" + std::string(name) +
                            "' holds a tab or line break and cannot go in a TSV column");
  }
  return ok_status();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

// ".DIR.ringmaster-tmp.HOST." — followed by "PID.XXXXXX" (mkdtemp's suffix).
std::string temp_prefix(const std::string& base_name) {
  return "." + base_name + ".ringmaster-tmp." + host_name() + ".";
}

bool process_is_dead(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Removes temporaries of `base_name` left in `parent` by crashed processes of this host. Only
// this host's names are considered, because a pid means nothing on another host of a shared
// filesystem; a live pid (even a reused one) keeps its directory.
void remove_stale_temps(const fs::path& parent, const std::string& base_name) {
  const std::string prefix = temp_prefix(base_name);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const char* digits = name.c_str() + prefix.size();
    char* end = nullptr;
    const long pid = std::strtol(digits, &end, 10);
    if (end == digits || *end != '.' || pid <= 0) continue;
    if (pid == ::getpid() || !process_is_dead(static_cast<pid_t>(pid))) continue;
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);
  }
}

bool is_output_name(std::string_view name) {
  return name == kEmbeddingsFile || name == kScoresFile || name == kRecordsFile ||
         name == kSummaryFile || name == kGeneratedFastaFile || name == kGeneratedTextFile ||
         name == kVariantsTsvFile || name == kVariantsVcfFile || name == kVariantsIndexFile;
}

// OK when `dir` may be replaced: a real directory (not a link) holding only regular files named
// like ringmaster outputs. Anything else may be someone's data and is never deleted.
Status check_replaceable(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) {
    return invalid_argument("refusing to replace " + dir + ": it is not a directory");
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_output_name(name) || !fs::is_regular_file(fs::symlink_status(entry.path(), ec))) {
      return invalid_argument("refusing to replace " + dir + ": it holds '" + name +
                              "', which is not a ringmaster output");
    }
  }
  if (ec) return invalid_argument("cannot list " + dir + ": " + ec.message());
  return ok_status();
}

bool exists_no_follow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::string format_double(double value) {
  std::array<char, 64> text;
  const auto result = std::to_chars(text.data(), text.data() + text.size(), value);
  return std::string(text.data(), result.ptr);
}

Status write_output_file(const std::string& path, std::string_view content) {
  return write_file(path, content);
}

Status write_records_tsv(const std::string& path, const RecordTable& records) {
  std::string text = "name\toffset\tlength\n";
  for (const RecordSpan r : records) {
    RM_RETURN_IF_ERROR(check_tsv_name(path, r.name));
    // Appended piece by piece: GCC 12 -O3 reports a false -Wrestrict on "\t" + std::string.
    text.append(r.name).append("\t").append(std::to_string(r.offset)).append("\t");
    text.append(std::to_string(r.length)).append("\n");
  }
  return write_file(path, text);
}

Status write_records_tsv(const std::string& path, const RecordTable& records,
                         std::span<const double> total_nats) {
  RM_CHECK(total_nats.size() == records.size())
      << total_nats.size() << " totals for " << records.size() << " records";
  std::string text = "name\toffset\tlength\tlog_likelihood_nats\tbits_per_token\n";
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordSpan r = records[i];
    RM_RETURN_IF_ERROR(check_tsv_name(path, r.name));
    // "+ 0.0" turns -0 into 0, so a certain record prints "0", not "-0".
    const double bits = -total_nats[i] / (static_cast<double>(r.length) * std::numbers::ln2) + 0.0;
    text.append(r.name).append("\t").append(std::to_string(r.offset)).append("\t");
    text.append(std::to_string(r.length)).append("\t").append(format_double(total_nats[i]));
    text.append("\t").append(format_double(bits)).append("\n");
  }
  return write_file(path, text);
}

std::vector<double> sum_per_record(std::span<const float> scores, const RecordTable& records) {
  std::vector<double> totals;
  totals.reserve(records.size());
  for (const RecordSpan r : records) {
    RM_CHECK(r.offset >= 0 && r.offset + r.length <= static_cast<int64_t>(scores.size()))
        << "record '" << r.name << "' outside " << scores.size() << " scores";
    double total = 0;
    for (int64_t i = r.offset; i < r.offset + r.length; ++i)
      total += scores[static_cast<size_t>(i)];
    totals.push_back(total);
  }
  return totals;
}

Status write_generated_fasta(const std::string& path, const RecordTable& records,
                             std::span<const Generation> generated) {
  RM_CHECK(generated.size() == records.size())
      << generated.size() << " generations for " << records.size() << " records";
  static constexpr char kBases[] = "ACGTN";  // ids 0-4 (io/tokens.h)
  static constexpr size_t kLine = 80;
  std::string text;
  for (size_t r = 0; r < records.size(); ++r) {
    if (records[r].name.find_first_of("\r\n") != std::string::npos) {
      return invalid_argument(path + ": record name '" + std::string(records[r].name) +
                              "' holds a line break and cannot be a FASTA header");
    }
    text.append(">").append(records[r].name).append("\n");
    const std::vector<int32_t>& tokens = generated[r].tokens;
    for (size_t i = 0; i < tokens.size(); ++i) {
      RM_CHECK(tokens[i] >= 0 && tokens[i] < 5) << "id " << tokens[i] << " is not a base";
      text += kBases[tokens[i]];
      if ((i + 1) % kLine == 0 || i + 1 == tokens.size()) text += '\n';
    }
  }
  return write_file(path, text);
}

Status write_generated_text(const std::string& path, std::span<const Generation> generated) {
  std::string text;
  for (const Generation& g : generated) {
    for (const int32_t id : g.tokens) {
      RM_CHECK(id >= 0 && id < 256) << "id " << id << " is not a byte";
      text += static_cast<char>(static_cast<unsigned char>(id));
    }
  }
  return write_file(path, text);
}

Status write_generated_records_tsv(const std::string& path, const RecordTable& records,
                                   std::span<const Generation> generated) {
  RM_CHECK(generated.size() == records.size())
      << generated.size() << " generations for " << records.size() << " records";
  std::string text = "name\tprompt_length\tgenerated\tstop\tlog_likelihood_nats\n";
  for (size_t i = 0; i < records.size(); ++i) {
    RM_RETURN_IF_ERROR(check_tsv_name(path, records[i].name));
    const Generation& g = generated[i];
    text.append(records[i].name).append("\t").append(std::to_string(records[i].length));
    text.append("\t").append(std::to_string(g.tokens.size())).append("\t");
    text.append(g.eos ? "eos" : "length").append("\t");
    text.append(format_double(g.log_likelihood + 0.0)).append("\n");
  }
  return write_file(path, text);
}

namespace {

template <typename T>
void put_times_and_bytes(nlohmann::ordered_json& j, const T& t) {
  j["wall_s"] = t.wall_s;
  j["compute_s"] = t.compute_s;
  j["wait_s"] = t.wait_s;
  j["bytes_sent"] = t.bytes_sent;
  j["bytes_received"] = t.bytes_received;
}

// summary.json's "telemetry" (write_summary_json).
nlohmann::ordered_json telemetry_json(const std::vector<WorkerTelemetry>& workers) {
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  WorkerTelemetry all;
  std::vector<PhaseTelemetry> all_phases;  // summed over ranks, in first-seen order
  for (const WorkerTelemetry& w : workers) {
    nlohmann::ordered_json rank;
    rank["rank"] = w.rank;
    put_times_and_bytes(rank, w);
    nlohmann::ordered_json phases = nlohmann::ordered_json::object();
    for (const PhaseTelemetry& p : w.phases) {
      nlohmann::ordered_json phase;
      phase["blocks"] = p.blocks;
      put_times_and_bytes(phase, p);
      phases[p.name] = std::move(phase);
      auto it = std::find_if(all_phases.begin(), all_phases.end(),
                             [&](const PhaseTelemetry& q) { return q.name == p.name; });
      if (it == all_phases.end()) {
        all_phases.push_back(PhaseTelemetry{.name = p.name});
        it = all_phases.end() - 1;
      }
      it->blocks += p.blocks;
      it->wall_s += p.wall_s;
      it->compute_s += p.compute_s;
      it->wait_s += p.wait_s;
      it->bytes_sent += p.bytes_sent;
      it->bytes_received += p.bytes_received;
    }
    rank["phases"] = std::move(phases);
    ranks.push_back(std::move(rank));
    all.wall_s += w.wall_s;
    all.compute_s += w.compute_s;
    all.wait_s += w.wait_s;
    all.bytes_sent += w.bytes_sent;
    all.bytes_received += w.bytes_received;
  }
  nlohmann::ordered_json json;
  json["sums_over_ranks"] = true;  // seconds are rank-seconds
  put_times_and_bytes(json, all);
  nlohmann::ordered_json phases = nlohmann::ordered_json::object();
  for (const PhaseTelemetry& p : all_phases) {
    nlohmann::ordered_json phase;
    phase["blocks"] = p.blocks;
    put_times_and_bytes(phase, p);
    phases[p.name] = std::move(phase);
  }
  json["phases"] = std::move(phases);
  json["ranks"] = std::move(ranks);
  return json;
}

}  // namespace

std::string summary_json(const JobSummary& summary) {
  nlohmann::ordered_json json;
  json["format"] = "ringmaster-summary/1";
  json["model"] = summary.model;
  json["input"] = summary.input;
  json["task"] = summary.task;
  json["vocab"] = summary.vocab;
  json["plan"] = summary.plan;
  json["context_parallel"] = summary.context_parallel;
  json["ulysses_degree"] = summary.ulysses_degree > 0
                               ? nlohmann::ordered_json(summary.ulysses_degree)
                               : nlohmann::ordered_json(nullptr);
  json["rank_weights"] = summary.rank_weights.empty()
                             ? nlohmann::ordered_json(nullptr)
                             : nlohmann::ordered_json(summary.rank_weights);
  json["rank_speeds"] = summary.rank_speeds.empty() ? nlohmann::ordered_json(nullptr)
                                                    : nlohmann::ordered_json(summary.rank_speeds);
  json["workers"] = summary.workers;
  json["records"] = summary.records;
  json["tokens"] = summary.tokens;
  json["input_tokens"] = summary.input_tokens;
  json["wall_time_s"] = summary.wall_time_s;
  json["tokens_per_s"] =
      summary.wall_time_s > 0
          ? nlohmann::ordered_json(static_cast<double>(summary.tokens) / summary.wall_time_s)
          : nlohmann::ordered_json(nullptr);
  if (summary.decode) {
    const JobSummary::Decode& d = *summary.decode;
    json["generated_tokens"] = d.generated_tokens;
    json["prefill_s"] = d.prefill_s;
    json["decode_s"] = d.decode_s;
    json["decode_tokens_per_s"] =
        d.decode_s > 0
            ? nlohmann::ordered_json(static_cast<double>(d.generated_tokens) / d.decode_s)
            : nlohmann::ordered_json(nullptr);
  }
  if (summary.variants) {
    const JobSummary::Variants& v = *summary.variants;
    nlohmann::ordered_json variants;
    variants["rows"] = v.rows;
    nlohmann::ordered_json status;
    status["ok"] = v.ok;
    status["ref_mismatch"] = v.ref_mismatch;
    status["skipped_symbolic"] = v.skipped_symbolic;
    status["skipped_allele"] = v.skipped_allele;
    variants["status"] = std::move(status);
    variants["variants_scored"] = v.ok;
    variants["records_prefilled"] = v.records_prefilled;
    variants["branches"] = v.branches;
    variants["branch_tokens"] = v.branch_tokens;
    variants["mode"] = v.mode;
    variants["downstream"] = v.downstream;
    variants["context"] =
        v.context > 0 ? nlohmann::ordered_json(v.context) : nlohmann::ordered_json(nullptr);
    variants["rc_average"] = v.rc_average;
    variants["vcf_indexed"] = v.indexed;
    json["variants"] = std::move(variants);
  }
  nlohmann::ordered_json peaks = nlohmann::ordered_json::array();
  for (const WorkerPeak& peak : summary.worker_peaks) {
    nlohmann::ordered_json worker;
    worker["rank"] = peak.rank;
    worker["host"] = peak.host;
    worker["peak_rss_bytes"] = peak.peak_rss_bytes;
    worker["peak_device_bytes"] = peak.peak_device_bytes >= 0
                                      ? nlohmann::ordered_json(peak.peak_device_bytes)
                                      : nlohmann::ordered_json(nullptr);
    if (summary.task == "generate" || summary.task == "variants") {
      worker["prefill_s"] = peak.prefill_s;
      worker["decode_s"] = peak.decode_s;
    }
    peaks.push_back(std::move(worker));
  }
  json["peak_memory"] = std::move(peaks);
  if (!summary.worker_telemetry.empty())
    json["telemetry"] = telemetry_json(summary.worker_telemetry);
  // Paths need not be UTF-8; replace bad bytes rather than let dump() throw.
  return json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

Status write_summary_json(const std::string& path, const JobSummary& summary) {
  return write_file(path, summary_json(summary));
}

std::string check_summary_path(const std::string& npy_path) {
  constexpr std::string_view kNpy = ".npy";
  const bool has_npy = npy_path.size() > kNpy.size() && npy_path.ends_with(kNpy);
  return (has_npy ? npy_path.substr(0, npy_path.size() - kNpy.size()) : npy_path) + ".summary.json";
}

StatusOr<OutputDir> OutputDir::create(const std::string& final_path, bool replace_existing) {
  std::string target = final_path;
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  const fs::path path(target);
  const std::string base_name = path.filename().string();
  if (target.empty() || base_name.empty() || base_name == "." || base_name == ".." ||
      target == "/") {
    return invalid_argument("output path '" + final_path + "' does not name a directory");
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return not_found("output path " + final_path + ": parent directory " + parent.string() +
                     " does not exist");
  }
  if (exists_no_follow(target)) {
    if (!replace_existing) return invalid_argument("output path " + target + " already exists");
    RM_RETURN_IF_ERROR(check_replaceable(target));
  }
  remove_stale_temps(parent, base_name);

  std::string pattern =
      (parent / (temp_prefix(base_name) + std::to_string(::getpid()) + ".XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return errno_status(pattern, errno);
  OutputDir dir;
  dir.final_path_ = target;
  dir.temp_path_ = std::move(pattern);
  dir.replace_existing_ = replace_existing;
  return dir;
}

OutputDir::OutputDir(OutputDir&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::exchange(other.temp_path_, {})),
      replace_existing_(other.replace_existing_),
      committed_(other.committed_) {}

OutputDir& OutputDir::operator=(OutputDir&& other) noexcept {
  if (this != &other) {
    discard();
    final_path_ = std::move(other.final_path_);
    temp_path_ = std::exchange(other.temp_path_, {});
    replace_existing_ = other.replace_existing_;
    committed_ = other.committed_;
  }
  return *this;
}

OutputDir::~OutputDir() { discard(); }

void OutputDir::discard() {
  if (committed_ || temp_path_.empty()) return;
  std::error_code ec;
  fs::remove_all(temp_path_, ec);
  if (ec) spdlog::warn("could not remove temporary output {}: {}", temp_path_, ec.message());
  temp_path_.clear();
}

std::string OutputDir::file(std::string_view name) const {
  RM_CHECK(!temp_path_.empty() && !committed_) << "file() of a committed or moved-from OutputDir";
  return temp_path_ + "/" + std::string(name);
}

Status OutputDir::commit() {
  RM_CHECK(!temp_path_.empty() && !committed_) << "commit() twice or after a move";
  // Data first, then the names: after a power cut DIR is either absent or whole.
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(temp_path_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) RM_RETURN_IF_ERROR(fsync_file(it->path().string()));
  }
  if (ec) return errno_status(temp_path_, ec.value());
  RM_RETURN_IF_ERROR(fsync_directory(temp_path_));

  const std::string& target = final_path_;
  if (exists_no_follow(target)) {
    if (!replace_existing_) return invalid_argument("output path " + target + " already exists");
    RM_RETURN_IF_ERROR(check_replaceable(target));
    // Atomic swap: readers see the old DIR or the new one, never neither.
    if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(temp_path_, ec);  // now the old output
    } else if (errno == EINVAL || errno == ENOSYS) {
      // This filesystem cannot exchange: move the old DIR aside, the new one in, then delete.
      const std::string aside = temp_path_ + ".old";
      if (::rename(target.c_str(), aside.c_str()) != 0) return errno_status(target, errno);
      if (::rename(temp_path_.c_str(), target.c_str()) != 0) {
        const int err = errno;
        if (::rename(aside.c_str(), target.c_str()) != 0) {
          spdlog::error("could not restore {} from {}", target, aside);
        }
        return errno_status(target, err);
      }
      fs::remove_all(aside, ec);
    } else {
      return errno_status(target, errno);
    }
    if (ec) spdlog::warn("could not remove the replaced output: {}", ec.message());
  } else if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, target.c_str(),
                         RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return invalid_argument("output path " + target + " already exists");
    if ((errno != EINVAL && errno != ENOSYS) || ::rename(temp_path_.c_str(), target.c_str()) != 0) {
      return errno_status(target, errno);
    }
  }
  committed_ = true;
  const fs::path parent =
      fs::path(target).has_parent_path() ? fs::path(target).parent_path() : fs::path(".");
  // The rename is done and visible; a failed parent fsync only weakens durability after a power
  // cut, so it is logged rather than turned into a failed job.
  if (const Status synced = fsync_directory(parent.string()); !synced.ok()) {
    spdlog::warn("output committed, but {}", synced.message());
  }
  return ok_status();
}

}  // namespace ringmaster::io
