// coordinator/variant_job.h: what the coordinator reads and builds for a variants job (MODEL.md
// "variants") before any worker joins, and keeps until the output is written.
//
// prepare_variant_job reads the reference (the job's input, at most max_tokens bases) and the
// calls (io/vcf.h), gives every ALT its row and status (io/variants.h), builds the job's records
// and branches (coordinator/variant_records.h) and puts the branches into the JobSpec. The
// reference itself is dropped once the records are built: the job keeps only what it feeds.
//
// A job whose rows are none of them ok has no records: it runs no worker, and its output (every
// row with its status and no score) is written by the coordinator alone.
//
// Ownership: the VariantJob is shared by the coordinator (until the job ends) and its output.
// Immutable once prepared; thread-safe to read.
#pragma once

#include <memory>
#include <vector>

#include "coordinator/variant_records.h"
#include "core/status.h"
#include "io/tokens.h"
#include "io/variants.h"
#include "io/vcf.h"
#include "proto/ringmaster.pb.h"

namespace ringmaster::coordinator {

struct VariantJob {
  VariantOptions options;
  io::VcfCalls calls;
  std::vector<io::VariantRow> rows;  // VCF order
  VariantRecords records;            // its stream moved out to the caller (prepare_variant_job)
};

// Prepares the variants job `job` (REQUIRES: validate_job_request OK, task variants): sets
// job.model().branches and moves the job's records into `*stream`. Errors: those of the FASTA
// reader, read_vcf, classify_variants and build_variant_records, each naming its file and place.
StatusOr<std::shared_ptr<const VariantJob>> prepare_variant_job(pb::JobSpec& job,
                                                                io::TokenStream* stream);

}  // namespace ringmaster::coordinator
