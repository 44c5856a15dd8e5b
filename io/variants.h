// io/variants.h: the rows of the variants task (MODEL.md "variants"): one per ALT allele of the
// VCF, in VCF order, each with its status against the reference, and variants.tsv, their table.
//
// A row's status, the first that applies:
//   skipped_symbolic  the ALT is symbolic (<DEL>, <*>), a breakend (holds '[' or ']'), '*' or
//                     '.' (a record whose ALT column is '.' has one such row)
//   skipped_allele    a letter outside ACGTN (either case) in the ALT, or in the REF outside
//                     ACGTN and the IUPAC codes RYKMSWBDHV
//   ref_mismatch      the REF differs from the reference bases at POS (case-insensitive, IUPAC
//                     codes as N, as the FASTA reader reads them), or reaches outside the record
//                     (POS 0 included)
//   ok                scored
// Only ok rows are scored; the others keep their row with empty scores.
//
// Pure functions over their arguments; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "io/tokens.h"
#include "io/vcf.h"

namespace ringmaster::io {

enum class VariantStatus : uint8_t { kOk, kRefMismatch, kSkippedSymbolic, kSkippedAllele };
inline constexpr size_t kNumVariantStatuses = 4;
// "ok", "ref_mismatch", "skipped_symbolic", "skipped_allele".
const char* variant_status_name(VariantStatus status);

// One ALT allele of one VCF record.
struct VariantRow {
  int32_t record = 0;     // index into VcfCalls::records
  int32_t allele = -1;    // index into that record's alts; -1 for an ALT column of '.'
  int32_t reference = 0;  // the reference record CHROM names (TokenStream record index)
  VariantStatus status = VariantStatus::kOk;
};

// The rows of `calls` against `reference` (the FASTA as read: dna ids), named `reference_path`
// in errors. Errors (kInvalidArgument): a CHROM that names no reference record, or several
// ("calls.vcf line 12: CHROM 'chrX' is not a record of ref.fa"); more than 2^31 rows.
StatusOr<std::vector<VariantRow>> classify_variants(const VcfCalls& calls,
                                                    const TokenStream& reference,
                                                    const std::string& reference_path);

// The dna ids (io/tokens.h) of an allele of an ok row: ACGTN in either case, IUPAC codes as N.
std::vector<uint8_t> allele_ids(std::string_view allele);

// Rows per status, indexed by VariantStatus.
std::array<int64_t, kNumVariantStatuses> count_statuses(std::span<const VariantRow> rows);

// A row's scores; NaN where there is none (a row not ok, or dll_rc without --rc-average).
struct VariantScores {
  double dll = 0;
  double dll_fwd = 0;
  double dll_rc = 0;
};

// Writes variants.tsv: the header "chrom\tpos\tid\tref\talt\tdll\tdll_fwd\tdll_rc\tstatus",
// then one line per row: pos as written, id and alt '.' when missing, scores in the shortest
// text that reads back to the same double, '.' for a NaN (no score).
// REQUIRES: scores.size() == rows.size(). Errors: I/O naming the path.
Status write_variants_tsv(const std::string& path, const VcfCalls& calls,
                          std::span<const VariantRow> rows, std::span<const VariantScores> scores);

}  // namespace ringmaster::io
