#include "launcher/variants_bench.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "launcher/bench_jobs.h"

namespace ringmaster::launcher {
namespace {

namespace fs = std::filesystem;

// A VCF of `count` SNVs at evenly spread positions of `seq` (record `bench`), each ALT the next
// base after REF in ACGT order. Written by hand: a fixed, tiny format, and htslib reads it back.
Status write_snvs(const std::string& path, const std::string& seq, int64_t count) {
  std::ofstream out(path);
  out << "##fileformat=VCFv4.2\n##contig=<ID=bench,length=" << seq.size()
      << ">\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  const auto n = static_cast<int64_t>(seq.size());
  for (int64_t i = 0; i < count; ++i) {
    const int64_t a = (2 * i + 1) * n / (2 * count);  // 0-based, centred in its stretch
    const char ref = seq[static_cast<size_t>(a)];
    const char alt = "CGTA"[std::string("ACGT").find(ref)];
    out << "bench\t" << a + 1 << "\tsnv" << i << '\t' << ref << '\t' << alt << "\t.\t.\t.\n";
  }
  out.flush();
  if (!out) return errno_status(path, errno);
  return ok_status();
}

struct Job {
  double wall_s = 0;
  nlohmann::json summary;
};

StatusOr<Job> run(const VariantsBenchOptions& o, const std::string& model,
                  std::vector<std::string> args, const std::string& out) {
  fs::remove_all(out);
  std::vector<std::string> all = {"--model",   model,
                                  "--workers", std::to_string(o.workers),
                                  "--threads", std::to_string(o.threads),
                                  "--quiet",   "--out",
                                  out};
  all.insert(all.end(), args.begin(), args.end());
  RM_RETURN_IF_ERROR(run_job(all));
  RM_ASSIGN_OR_RETURN(nlohmann::json summary, read_summary(out + "/summary.json"));
  fs::remove_all(out);
  return Job{summary.value("wall_time_s", 0.0), summary};
}

// Each worker's branch time, "r0 1.23 s, r1 1.19 s", from summary.json's per-worker entries.
std::string branch_split(const nlohmann::json& summary) {
  std::string out;
  if (!summary.contains("peak_memory") || !summary["peak_memory"].is_array()) return "n/a";
  for (const nlohmann::json& w : summary["peak_memory"]) {
    if (!out.empty()) out += ", ";
    char buf[64];
    std::snprintf(buf, sizeof buf, "r%d %.2f s", w.value("rank", -1), w.value("decode_s", 0.0));
    out += buf;
  }
  return out;
}

// The benchmark's jobs, with their inputs and outputs under `dir`; the table goes to `report`.
Status run_jobs(const VariantsBenchOptions& o, const fs::path& dir, nlohmann::json& report) {
  const std::string out = (dir / "out").string();
  const std::string fasta = (dir / "ref.fa").string(), vcf = (dir / "snvs.vcf").string(),
                    window_vcf = (dir / "window_snvs.vcf").string();
  const int64_t window_variants = std::min(o.window_variants, o.variants);
  RM_RETURN_IF_ERROR(write_random_fasta(fasta, o.bases));
  const std::string bases = random_bases(o.bases);  // the FASTA's, for the SNVs' REF
  RM_RETURN_IF_ERROR(write_snvs(vcf, bases, o.variants));
  RM_RETURN_IF_ERROR(write_snvs(window_vcf, bases, window_variants));
  std::printf("model %s, %lld bases, %lld SNVs, D %lld, %d worker(s) x %d thread(s)\n",
              o.model_dir.c_str(), static_cast<long long>(o.bases),
              static_cast<long long>(o.variants), static_cast<long long>(o.downstream), o.workers,
              o.threads);
  std::printf("%-28s %9s %9s %10s %10s\n", "job", "wall_s", "x_score", "variants/s", "tokens/s");
  std::fflush(stdout);

  const std::string d = std::to_string(o.downstream);
  RM_ASSIGN_OR_RETURN(const Job score,
                      run(o, o.model_dir, {"--input", fasta, "--task", "score"}, out));
  const double score_tps = static_cast<double>(o.bases) / score.wall_s;
  std::printf("%-28s %9.2f %9.2f %10s %10.0f\n", "score", score.wall_s, 1.0, "", score_tps);
  report["score"] = {{"wall_s", score.wall_s}, {"tokens_per_s", score_tps}};

  struct Variant {
    std::string name;
    std::string vcf;
    int64_t variants;
    std::vector<std::string> flags;
    int64_t tokens_per_variant;  // windowed: the window's and the branch's tokens
  };
  const std::vector<Variant> runs = {
      {"variants full", vcf, o.variants, {"--downstream", d}, 0},
      {"variants full --rc-average", vcf, o.variants, {"--downstream", d, "--rc-average"}, 0},
      {"variants --context " + std::to_string(o.window_context),
       window_vcf,
       window_variants,
       {"--downstream", std::to_string(o.window_downstream), "--context",
        std::to_string(o.window_context)},
       (o.window_context + 1 + o.window_downstream) + (1 + o.window_downstream)}};
  for (const Variant& v : runs) {
    std::vector<std::string> args = {"--input", fasta, "--variants", v.vcf, "--task", "variants"};
    args.insert(args.end(), v.flags.begin(), v.flags.end());
    RM_ASSIGN_OR_RETURN(const Job job, run(o, o.model_dir, args, out));
    const double vps = static_cast<double>(v.variants) / job.wall_s;
    const double tps = static_cast<double>(v.tokens_per_variant) * vps;
    std::printf("%-28s %9.2f %9.2f %10.1f %10s\n", v.name.c_str(), job.wall_s,
                job.wall_s / score.wall_s, vps,
                v.tokens_per_variant > 0 ? std::to_string(static_cast<int64_t>(tps)).c_str() : "");
    std::fflush(stdout);
    report[v.name] = {{"wall_s", job.wall_s},
                      {"x_score", job.wall_s / score.wall_s},
                      {"variants_per_s", vps},
                      {"tokens_per_s", tps},
                      {"tokens_per_s_vs_score", tps / score_tps},
                      {"branch_split", branch_split(job.summary)}};
  }

  if (!o.attention_model_dir.empty()) {
    std::printf("\nattention model %s, %lld SNVs, D %lld\n%10s %9s %10s %12s  %s\n",
                o.attention_model_dir.c_str(), static_cast<long long>(o.attention_variants),
                static_cast<long long>(o.downstream), "context", "score_s", "variants_s",
                "s/variant", "branch time per worker");
    for (const int64_t tokens : o.attention_tokens) {
      const std::string afa = (dir / "attn.fa").string(), avcf = (dir / "attn.vcf").string();
      RM_RETURN_IF_ERROR(write_random_fasta(afa, tokens));
      RM_RETURN_IF_ERROR(write_snvs(avcf, random_bases(tokens), o.attention_variants));
      RM_ASSIGN_OR_RETURN(const Job s,
                          run(o, o.attention_model_dir, {"--input", afa, "--task", "score"}, out));
      RM_ASSIGN_OR_RETURN(
          const Job v,
          run(o, o.attention_model_dir,
              {"--input", afa, "--variants", avcf, "--task", "variants", "--downstream", d}, out));
      const double per = (v.wall_s - s.wall_s) / static_cast<double>(o.attention_variants);
      const std::string split = branch_split(v.summary);
      std::printf("%10lld %9.2f %10.2f %12.3f  %s\n", static_cast<long long>(tokens), s.wall_s,
                  v.wall_s, per, split.c_str());
      std::fflush(stdout);
      report["attention"].push_back({{"tokens", tokens},
                                     {"score_s", s.wall_s},
                                     {"variants_s", v.wall_s},
                                     {"s_per_variant", per},
                                     {"branch_split", split}});
    }
  }
  return ok_status();
}

}  // namespace

Status run_variants_bench(const VariantsBenchOptions& o) {
  if (o.model_dir.empty()) return invalid_argument("bench variants needs --model DIR");
  if (o.variants < 1) return invalid_argument("bench variants needs --variants >= 1");
  const bool own_dir = o.work_dir.empty();
  const fs::path dir = own_dir ? fs::temp_directory_path() /
                                     ("ringmaster-bench-variants-" + std::to_string(::getpid()))
                               : fs::path(o.work_dir);
  fs::create_directories(dir);
  nlohmann::json report;
  const Status status = run_jobs(o, dir, report);
  if (own_dir) fs::remove_all(dir);
  RM_RETURN_IF_ERROR(status);
  if (!o.json_path.empty()) std::ofstream(o.json_path) << report.dump(2) << "\n";
  return ok_status();
}

}  // namespace ringmaster::launcher
