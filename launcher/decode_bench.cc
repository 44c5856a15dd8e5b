#include "launcher/decode_bench.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "bench/stream_triad.h"
#include "launcher/bench_jobs.h"
#include "model/config.h"

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;

// Bytes of K and V every decode step reads at context L: each attention block's cached keys.
StatusOr<double> kv_bytes_per_step(const std::string& model_dir, int64_t tokens) {
  RM_ASSIGN_OR_RETURN(model::ModelConfig c, model::parse_config(model_dir + "/config.json"));
  int64_t blocks = 0;
  for (const model::BlockConfig& b : c.blocks) blocks += b.mixer == model::MixerKind::kAttention;
  return static_cast<double>(blocks * tokens * 2 * c.n_kv_heads * c.head_dim) * sizeof(float);
}

// Runs one generate job and returns its summary.
StatusOr<nlohmann::json> generate(const DecodeBenchOptions& o, const std::string& input,
                                  const std::string& out, int workers, int64_t new_tokens) {
  fs::remove_all(out);
  RM_RETURN_IF_ERROR(
      run_job({"--model", o.model_dir, "--input", input, "--task", "generate", "--max-new-tokens",
               std::to_string(new_tokens), "--ignore-eos", "--workers", std::to_string(workers),
               "--threads", std::to_string(o.threads), "--plan", o.plan, "--quiet", "--out", out}));
  RM_ASSIGN_OR_RETURN(nlohmann::json summary, read_summary(out + "/summary.json"));
  fs::remove_all(out);
  return summary;
}

void print_row(const DecodeBenchRow& r) {
  std::printf("%8lld %3d %9.2f %9.2f %10.3f %8.1f %6.2f %7.2f %7.2f %8.2f %9.0f %9.0f\n",
              static_cast<long long>(r.tokens), r.workers, r.prefill_s, r.first_token_s,
              r.decode_ms_per_token, r.decode_tokens_per_s, r.speedup, r.kv_gb_per_s,
              r.triad_gb_per_s, r.bound_ms, r.prefill_peak_mib, r.decode_peak_mib);
  std::fflush(stdout);
}

nlohmann::json to_json(const DecodeBenchRow& r) {
  return {{"tokens", r.tokens},
          {"workers", r.workers},
          {"prefill_s", r.prefill_s},
          {"first_token_s", r.first_token_s},
          {"decode_ms_per_token", r.decode_ms_per_token},
          {"decode_tokens_per_s", r.decode_tokens_per_s},
          {"speedup_vs_1_worker", r.speedup},
          {"kv_bytes_per_step", r.kv_bytes_per_step},
          {"kv_gb_per_s", r.kv_gb_per_s},
          {"triad_gb_per_s", r.triad_gb_per_s},
          {"bound_ms", r.bound_ms},
          {"prefill_peak_mib", r.prefill_peak_mib},
          {"decode_peak_mib", r.decode_peak_mib}};
}

}  // namespace

StatusOr<std::vector<DecodeBenchRow>> run_decode_bench(const DecodeBenchOptions& o) {
  if (o.model_dir.empty()) return invalid_argument("bench decode needs --model DIR");
  if (o.new_tokens < 2) return invalid_argument("bench decode needs --new-tokens >= 2");
  const bool own_dir = o.work_dir.empty();
  const fs::path dir = own_dir ? fs::temp_directory_path() /
                                     ("ringmaster-bench-decode-" + std::to_string(::getpid()))
                               : fs::path(o.work_dir);
  fs::create_directories(dir);
  std::printf("model %s, plan %s, %lld new tokens, %d thread(s) per worker\n", o.model_dir.c_str(),
              o.plan.c_str(), static_cast<long long>(o.new_tokens), o.threads);
  std::printf("%8s %3s %9s %9s %10s %8s %6s %7s %7s %8s %9s %9s\n", "tokens", "P", "prefill_s",
              "ttft_s", "ms/token", "tok/s", "vs_P1", "kv_GB/s", "triad", "bound_ms", "peak_pre",
              "peak_dec");
  std::vector<DecodeBenchRow> rows;
  Status status = ok_status();
  for (const int64_t tokens : o.tokens) {
    const std::string input = (dir / ("prompt_" + std::to_string(tokens) + ".fa")).string();
    status = write_random_fasta(input, tokens);
    if (!status.ok()) break;
    std::map<int, double> ms_per_token;
    for (const int workers : o.workers) {
      const std::string out = (dir / "out").string();
      StatusOr<nlohmann::json> prefill_only = generate(o, input, out, workers, 1);
      StatusOr<nlohmann::json> decode =
          prefill_only.ok() ? generate(o, input, out, workers, o.new_tokens) : prefill_only;
      StatusOr<double> kv = kv_bytes_per_step(o.model_dir, tokens);
      if (!decode.ok() || !kv.ok()) {
        status = !decode.ok() ? decode.status() : kv.status();
        break;
      }
      DecodeBenchRow r;
      r.tokens = tokens;
      r.workers = workers;
      r.prefill_s = decode->value("prefill_s", 0.0);
      // The first token is sampled from the prefill's last row: no decode step before it.
      r.first_token_s = r.prefill_s;
      const double decode_s = decode->value("decode_s", 0.0);
      r.decode_ms_per_token = decode_s * 1e3 / static_cast<double>(o.new_tokens - 1);
      r.decode_tokens_per_s = r.decode_ms_per_token > 0 ? 1e3 / r.decode_ms_per_token : 0;
      ms_per_token[workers] = r.decode_ms_per_token;
      if (ms_per_token.count(1) != 0) r.speedup = ms_per_token[1] / r.decode_ms_per_token;
      r.kv_bytes_per_step = *kv;
      r.kv_gb_per_s = *kv / (r.decode_ms_per_token * 1e-3) / 1e9;
      ThreadPool pool(workers * o.threads);
      r.triad_gb_per_s = bench::triad_gb_per_s(pool);
      r.bound_ms = *kv / (r.triad_gb_per_s * 1e9) * 1e3 + 1.0;
      r.prefill_peak_mib = max_peak_rss_mib(*prefill_only);
      r.decode_peak_mib = max_peak_rss_mib(*decode);
      print_row(r);
      rows.push_back(r);
    }
    fs::remove(input);
    if (!status.ok()) break;
  }
  if (own_dir) fs::remove_all(dir);
  RM_RETURN_IF_ERROR(status);
  if (!o.json_path.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const DecodeBenchRow& r : rows) out.push_back(to_json(r));
    std::ofstream(o.json_path) << out.dump(2) << "\n";
  }
  return rows;
}

}  // namespace ringmaster::launcher
