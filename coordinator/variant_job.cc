#include "coordinator/variant_job.h"

#include <spdlog/spdlog.h>

#include "io/input.h"

namespace ringmaster::coordinator {

StatusOr<std::shared_ptr<const VariantJob>> prepare_variant_job(pb::JobSpec& job,
                                                                io::TokenStream* stream) {
  pb::ModelJob& m = *job.mutable_model();
  auto variants = std::make_shared<VariantJob>();
  variants->options.downstream = m.downstream();
  variants->options.context = m.context();
  variants->options.rc_average = m.rc_average();
  // The calls first: a bad VCF fails before a genome is read.
  RM_ASSIGN_OR_RETURN(variants->calls, io::read_vcf(m.variants_path()));
  {
    RM_ASSIGN_OR_RETURN(const io::TokenStream reference,
                        io::read_input(m.input_path(), io::Vocab::kDna, m.max_tokens()));
    RM_ASSIGN_OR_RETURN(variants->rows,
                        io::classify_variants(variants->calls, reference, m.input_path()));
    RM_ASSIGN_OR_RETURN(variants->records, build_variant_records(variants->calls, variants->rows,
                                                                 reference, variants->options));
  }
  m.clear_branches();
  for (const VariantBranch& branch : variants->records.branches) {
    pb::Branch* out = m.add_branches();
    out->set_record(branch.record);
    out->set_base(branch.base);
    out->set_tokens(std::string(branch.tokens.begin(), branch.tokens.end()));
  }
  const auto counts = io::count_statuses(variants->rows);
  spdlog::info("{}: {} ALT rows, {} ok; {} records to prefill, {} branches of {} tokens",
               m.variants_path(), variants->rows.size(),
               counts[static_cast<size_t>(io::VariantStatus::kOk)],
               variants->records.stream.num_records(), variants->records.branches.size(),
               variants->records.branch_tokens);
  *stream = std::move(variants->records.stream);
  return std::shared_ptr<const VariantJob>(std::move(variants));
}

}  // namespace ringmaster::coordinator
