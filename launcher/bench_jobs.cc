#include "launcher/bench_jobs.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "launcher/spawn.h"

namespace ringmaster::launcher {

std::string random_bases(int64_t bases) {
  std::mt19937_64 rng(42);
  std::string out(static_cast<size_t>(bases), 'A');
  for (char& c : out) c = "ACGT"[rng() & 3];
  return out;
}

Status write_random_fasta(const std::string& path, int64_t bases) {
  std::ofstream out(path);
  out << ">bench random bases\n";
  const std::string seq = random_bases(bases);
  for (size_t i = 0; i < seq.size(); i += 60) out << seq.substr(i, 60) << '\n';
  out.flush();
  if (!out) return errno_status(path, errno);
  return ok_status();
}

// Runs `ringmaster run ...` and waits for it.
Status run_job(const std::vector<std::string>& args) {
  RM_ASSIGN_OR_RETURN(std::string exe, self_executable());
  SpawnSpec spec;
  spec.path = exe;
  spec.args = {exe, "--log-level", "warn", "run"};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  spec.env = environment_with({});
  return spawn_and_wait(spec, "ringmaster run");
}

StatusOr<nlohmann::json> read_summary(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errno_status(path, errno);
  nlohmann::json summary = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (summary.is_discarded()) return data_loss(path + ": not JSON");
  return summary;
}

double max_peak_rss_mib(const nlohmann::json& summary) {
  double mib = 0;
  for (const auto& peak : summary.value("peak_memory", nlohmann::json::array())) {
    mib = std::max(mib, peak.value("peak_rss_bytes", 0.0) / (1 << 20));
  }
  return mib;
}

}  // namespace ringmaster::launcher
