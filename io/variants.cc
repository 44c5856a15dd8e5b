#include "io/variants.h"

#include <cmath>
#include <limits>
#include <unordered_map>

#include "io/outputs.h"

namespace ringmaster::io {
namespace {

// The dna id of a base letter (either case; IUPAC codes as N, as io/fasta.h reads them), or -1.
int base_id(char c, bool allow_iupac) {
  switch (c) {
    case 'A':
    case 'a':
      return kDnaA;
    case 'C':
    case 'c':
      return kDnaC;
    case 'G':
    case 'g':
      return kDnaG;
    case 'T':
    case 't':
      return kDnaT;
    case 'N':
    case 'n':
      return kDnaN;
    default:
      break;
  }
  if (!allow_iupac) return -1;
  switch (c) {
    case 'R':
    case 'Y':
    case 'K':
    case 'M':
    case 'S':
    case 'W':
    case 'B':
    case 'D':
    case 'H':
    case 'V':
    case 'r':
    case 'y':
    case 'k':
    case 'm':
    case 's':
    case 'w':
    case 'b':
    case 'd':
    case 'h':
    case 'v':
      return kDnaN;
    default:
      return -1;
  }
}

bool is_symbolic(std::string_view alt) {
  return alt == "*" || alt == "." || alt.empty() || alt.front() == '<' ||
         alt.find_first_of("[]") != std::string_view::npos;
}

bool all_bases(std::string_view allele, bool allow_iupac) {
  if (allele.empty()) return false;
  for (const char c : allele) {
    if (base_id(c, allow_iupac) < 0) return false;
  }
  return true;
}

// The reference's bases at [a, a + |ref|) equal `ref` (IUPAC as N)?
bool ref_matches(std::string_view ref, int64_t a, std::span<const uint8_t> record) {
  if (a < 0 || a + static_cast<int64_t>(ref.size()) > static_cast<int64_t>(record.size())) {
    return false;
  }
  for (size_t i = 0; i < ref.size(); ++i) {
    if (base_id(ref[i], true) != record[static_cast<size_t>(a) + i]) return false;
  }
  return true;
}

VariantStatus classify(const VcfRecord& record, std::string_view alt,
                       std::span<const uint8_t> bases) {
  if (is_symbolic(alt)) return VariantStatus::kSkippedSymbolic;
  if (!all_bases(alt, false) || !all_bases(record.ref, true)) return VariantStatus::kSkippedAllele;
  if (!ref_matches(record.ref, record.pos - 1, bases)) return VariantStatus::kRefMismatch;
  return VariantStatus::kOk;
}

void append_score(std::string& text, double value) {
  text.append("\t");
  // "+ 0.0" turns -0 into 0.
  text.append(std::isnan(value) ? std::string(".") : format_double(value + 0.0));
}

}  // namespace

const char* variant_status_name(VariantStatus status) {
  switch (status) {
    case VariantStatus::kOk:
      return "ok";
    case VariantStatus::kRefMismatch:
      return "ref_mismatch";
    case VariantStatus::kSkippedSymbolic:
      return "skipped_symbolic";
    case VariantStatus::kSkippedAllele:
      return "skipped_allele";
  }
  return "?";
}

StatusOr<std::vector<VariantRow>> classify_variants(const VcfCalls& calls,
                                                    const TokenStream& reference,
                                                    const std::string& reference_path) {
  // Name -> record, or -2 for a name that several records carry.
  std::unordered_map<std::string_view, int32_t> by_name;
  for (size_t r = 0; r < reference.records().size(); ++r) {
    const auto [it, added] = by_name.emplace(reference.records()[r].name, static_cast<int32_t>(r));
    if (!added) it->second = -2;
  }
  std::vector<VariantRow> rows;
  for (size_t k = 0; k < calls.records.size(); ++k) {
    const VcfRecord& record = calls.records[k];
    const auto it = by_name.find(record.chrom);
    if (it == by_name.end()) {
      return invalid_argument(calls.where(record) + ": CHROM '" + record.chrom +
                              "' is not a record of the reference " + reference_path);
    }
    if (it->second < 0) {
      return invalid_argument(calls.where(record) + ": CHROM '" + record.chrom +
                              "' names several records of the reference " + reference_path);
    }
    if (rows.size() + record.alts.size() + 1 > static_cast<size_t>(INT32_MAX)) {
      return invalid_argument(calls.path + ": more than 2^31 ALT alleles");
    }
    const RecordSpan span = reference.records()[static_cast<size_t>(it->second)];
    const std::span<const uint8_t> bases = reference.input_ids().subspan(
        static_cast<size_t>(span.offset), static_cast<size_t>(span.length));
    VariantRow row;
    row.record = static_cast<int32_t>(k);
    row.reference = it->second;
    if (record.alts.empty()) {
      row.allele = -1;
      row.status = VariantStatus::kSkippedSymbolic;
      rows.push_back(row);
      continue;
    }
    for (size_t i = 0; i < record.alts.size(); ++i) {
      row.allele = static_cast<int32_t>(i);
      row.status = classify(record, record.alts[i], bases);
      rows.push_back(row);
    }
  }
  return rows;
}

std::vector<uint8_t> allele_ids(std::string_view allele) {
  std::vector<uint8_t> ids;
  ids.reserve(allele.size());
  for (const char c : allele) {
    const int id = base_id(c, true);
    RM_CHECK(id >= 0) << "allele '" << allele << "' is not bases";
    ids.push_back(static_cast<uint8_t>(id));
  }
  return ids;
}

std::array<int64_t, kNumVariantStatuses> count_statuses(std::span<const VariantRow> rows) {
  std::array<int64_t, kNumVariantStatuses> counts{};
  for (const VariantRow& row : rows) ++counts[static_cast<size_t>(row.status)];
  return counts;
}

Status write_variants_tsv(const std::string& path, const VcfCalls& calls,
                          std::span<const VariantRow> rows, std::span<const VariantScores> scores) {
  RM_CHECK(scores.size() == rows.size()) << scores.size() << " scores for " << rows.size();
  std::string text = "chrom\tpos\tid\tref\talt\tdll\tdll_fwd\tdll_rc\tstatus\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const VcfRecord& record = calls.records[static_cast<size_t>(rows[i].record)];
    // Appended piece by piece: GCC 12 -O3 reports a false -Wrestrict on "\t" + std::string.
    text.append(record.chrom).append("\t").append(std::to_string(record.pos)).append("\t");
    text.append(record.id).append("\t").append(record.ref).append("\t");
    text.append(rows[i].allele >= 0 ? record.alts[static_cast<size_t>(rows[i].allele)] : ".");
    append_score(text, scores[i].dll);
    append_score(text, scores[i].dll_fwd);
    append_score(text, scores[i].dll_rc);
    text.append("\t").append(variant_status_name(rows[i].status)).append("\n");
  }
  return write_output_file(path, text);
}

}  // namespace ringmaster::io
