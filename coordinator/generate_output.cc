#include <numeric>

#include "coordinator/job_output.h"

namespace ringmaster::coordinator {
namespace {

class GenerateOutput final : public JobOutput {
 public:
  GenerateOutput(GenerateOutputSpec spec, io::OutputDir dir)
      : spec_(std::move(spec)), dir_(std::move(dir)) {}

  Status write(const Tensor&, const RunFacts& facts) override {
    if (facts.generated.size() != spec_.records.size()) {
      return internal_error(std::to_string(facts.generated.size()) + " generations for " +
                            std::to_string(spec_.records.size()) + " records");
    }
    if (spec_.vocab == io::Vocab::kDna) {
      RM_RETURN_IF_ERROR(io::write_generated_fasta(dir_.file(io::kGeneratedFastaFile),
                                                   spec_.records, facts.generated));
    } else {
      RM_RETURN_IF_ERROR(
          io::write_generated_text(dir_.file(io::kGeneratedTextFile), facts.generated));
    }
    RM_RETURN_IF_ERROR(io::write_generated_records_tsv(dir_.file(io::kRecordsFile), spec_.records,
                                                       facts.generated));
    io::JobSummary summary = with_facts(spec_.summary, facts);
    // Filled, then assigned: clang rejects emplace() on an optional of a nested struct with
    // member initializers (not default-constructible until the enclosing class is complete).
    io::JobSummary::Decode decode;
    decode.prefill_s = facts.prefill_s;
    decode.decode_s = facts.decode_s;
    decode.generated_tokens = std::accumulate(facts.generated.begin(), facts.generated.end(),
                                              int64_t{0}, [](int64_t sum, const io::Generation& g) {
                                                return sum + static_cast<int64_t>(g.tokens.size());
                                              });
    summary.decode = decode;
    return io::write_summary_json(dir_.file(io::kSummaryFile), summary);
  }

  Status commit() override { return dir_.commit(); }
  const std::string& path() const override { return spec_.dir; }

 private:
  GenerateOutputSpec spec_;
  io::OutputDir dir_;
};

}  // namespace

StatusOr<std::unique_ptr<JobOutput>> make_generate_output(GenerateOutputSpec spec) {
  RM_ASSIGN_OR_RETURN(io::OutputDir dir,
                      io::OutputDir::create(spec.dir, /*replace_existing=*/true));
  return std::unique_ptr<JobOutput>(
      std::make_unique<GenerateOutput>(std::move(spec), std::move(dir)));
}

}  // namespace ringmaster::coordinator
