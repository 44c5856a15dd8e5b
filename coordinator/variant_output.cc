#include <cmath>
#include <limits>

#include "coordinator/job_output.h"
#include "io/variants.h"
#include "io/vcf.h"

namespace ringmaster::coordinator {
namespace {

constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

class VariantOutput final : public JobOutput {
 public:
  VariantOutput(VariantOutputSpec spec, io::OutputDir dir)
      : spec_(std::move(spec)), dir_(std::move(dir)) {}

  Status write(const Tensor& rows, const RunFacts& facts) override {
    const VariantJob& job = *spec_.variants;
    const std::vector<VariantBranch>& branches = job.records.branches;
    if (facts.branch_log_likelihoods.size() != branches.size()) {
      return internal_error(std::to_string(facts.branch_log_likelihoods.size()) +
                            " branch results for " + std::to_string(branches.size()) + " branches");
    }
    const int64_t num_rows = rows.defined() ? rows.dim(0) : 0;
    const float* scores = num_rows > 0 ? rows.const_data<float>() : nullptr;
    // dll of branch b: LL(alt_seq, |left|) - LL(ref_seq, |left|), summed in double.
    auto dll_of = [&](int32_t b) -> StatusOr<double> {
      if (b < 0) return kNone;
      const VariantBranch& branch = branches[static_cast<size_t>(b)];
      if (branch.ref_first < 0 || branch.ref_first + branch.ref_count > num_rows) {
        return internal_error("branch " + std::to_string(b) + "'s reference side is outside " +
                              std::to_string(num_rows) + " score rows");
      }
      double ref = 0;
      for (int64_t i = branch.ref_first; i < branch.ref_first + branch.ref_count; ++i) {
        ref += scores[i];
      }
      return facts.branch_log_likelihoods[static_cast<size_t>(b)] - ref;
    };

    std::vector<io::VariantScores> table(job.rows.size());
    // Per field, one value per ALT of the file (a record whose ALT is '.' has none).
    std::vector<std::vector<double>> info(3);
    for (size_t i = 0; i < job.rows.size(); ++i) {
      io::VariantScores& s = table[i];
      RM_ASSIGN_OR_RETURN(s.dll_fwd, dll_of(job.records.fwd_branch[i]));
      RM_ASSIGN_OR_RETURN(s.dll_rc, dll_of(job.records.rc_branch[i]));
      s.dll = job.options.rc_average ? (s.dll_fwd + s.dll_rc) / 2 : s.dll_fwd;
      if (job.rows[i].allele < 0) continue;
      info[0].push_back(s.dll);
      info[1].push_back(s.dll_fwd);
      info[2].push_back(s.dll_rc);
    }
    RM_RETURN_IF_ERROR(
        io::write_variants_tsv(dir_.file(io::kVariantsTsvFile), job.calls, job.rows, table));
    const io::InfoField fields[] = {
        {"RM_DLL",
         "ringmaster: delta log-likelihood ALT - REF in nats (mean of the strands with "
         "--rc-average)"},
        {"RM_DLL_FWD", "ringmaster: delta log-likelihood ALT - REF in nats, forward strand"},
        {"RM_DLL_RC",
         "ringmaster: delta log-likelihood ALT - REF in nats, reverse-complement "
         "strand (--rc-average only)"},
    };
    bool indexed = false;
    RM_RETURN_IF_ERROR(io::write_annotated_vcf(job.calls, dir_.file(io::kVariantsVcfFile), fields,
                                               info, &indexed));

    io::JobSummary summary = with_facts(spec_.summary, facts);
    const auto counts = io::count_statuses(job.rows);
    // Filled, then assigned: clang rejects emplace() of a nested struct with member initializers.
    io::JobSummary::Variants v;
    v.rows = static_cast<int64_t>(job.rows.size());
    v.ok = counts[static_cast<size_t>(io::VariantStatus::kOk)];
    v.ref_mismatch = counts[static_cast<size_t>(io::VariantStatus::kRefMismatch)];
    v.skipped_symbolic = counts[static_cast<size_t>(io::VariantStatus::kSkippedSymbolic)];
    v.skipped_allele = counts[static_cast<size_t>(io::VariantStatus::kSkippedAllele)];
    v.records_prefilled = summary.records;
    v.branches = static_cast<int64_t>(branches.size());
    v.branch_tokens = job.records.branch_tokens;
    v.mode = job.options.context > 0 ? "windowed" : "full";
    v.downstream = job.options.downstream;
    v.context = job.options.context;
    v.rc_average = job.options.rc_average;
    v.indexed = indexed;
    summary.variants = v;
    return io::write_summary_json(dir_.file(io::kSummaryFile), summary);
  }

  Status commit() override { return dir_.commit(); }
  const std::string& path() const override { return spec_.dir; }

 private:
  VariantOutputSpec spec_;
  io::OutputDir dir_;
};

}  // namespace

StatusOr<std::unique_ptr<JobOutput>> make_variant_output(VariantOutputSpec spec) {
  RM_CHECK(spec.variants != nullptr) << "a variants output without its job";
  RM_ASSIGN_OR_RETURN(io::OutputDir dir,
                      io::OutputDir::create(spec.dir, /*replace_existing=*/true));
  return std::unique_ptr<JobOutput>(
      std::make_unique<VariantOutput>(std::move(spec), std::move(dir)));
}

}  // namespace ringmaster::coordinator
