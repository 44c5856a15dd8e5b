#include "coordinator/variant_records.h"

#include <algorithm>

namespace ringmaster::coordinator {
namespace {

uint8_t complement(uint8_t id) {
  // A C G T N = 0 1 2 3 4: A<->T and C<->G swap, N stays.
  return id < 4 ? static_cast<uint8_t>(3 - id) : id;
}

// One strand of one reference record: x itself, or revcomp(x) read on demand (never built
// whole in windowed mode).
class Strand {
 public:
  Strand(std::span<const uint8_t> x, bool rc) : x_(x), rc_(rc) {}
  int64_t size() const { return static_cast<int64_t>(x_.size()); }
  // This strand's [begin, end), clipped to the record.
  std::vector<uint8_t> slice(int64_t begin, int64_t end) const {
    begin = std::clamp<int64_t>(begin, 0, size());
    end = std::clamp<int64_t>(end, begin, size());
    if (!rc_) return {x_.begin() + begin, x_.begin() + end};
    // revcomp(x)[b, e) = revcomp(x[n - e, n - b))
    return reverse_complement(
        x_.subspan(static_cast<size_t>(size() - end), static_cast<size_t>(end - begin)));
  }
  // a on this strand, for a variant at forward 0-based `a` with a REF of `ref_len` bases.
  int64_t start_of(int64_t a, int64_t ref_len) const { return rc_ ? size() - (a + ref_len) : a; }
  std::vector<uint8_t> allele(std::string_view text) const {
    std::vector<uint8_t> ids = io::allele_ids(text);
    return rc_ ? reverse_complement(ids) : ids;
  }

 private:
  std::span<const uint8_t> x_;
  bool rc_;
};

std::span<const uint8_t> bases_of(const io::TokenStream& stream, size_t record) {
  const io::RecordSpan span = stream.records()[record];
  return stream.input_ids().subspan(static_cast<size_t>(span.offset),
                                    static_cast<size_t>(span.length));
}

class Builder {
 public:
  Builder(const io::VcfCalls& calls, std::span<const io::VariantRow> rows,
          const io::TokenStream& reference, const VariantOptions& options)
      : calls_(calls), rows_(rows), reference_(reference), options_(options) {
    out_.fwd_branch.assign(rows.size(), -1);
    out_.rc_branch.assign(rows.size(), -1);
  }

  StatusOr<VariantRecords> build() && {
    if (options_.context > 0) {
      RM_RETURN_IF_ERROR(build_windows());
    } else {
      RM_RETURN_IF_ERROR(build_full());
    }
    return std::move(out_);
  }

 private:
  const io::VcfRecord& record_of(const io::VariantRow& row) const {
    return calls_.records[static_cast<size_t>(row.record)];
  }

  // Full context: each reference record with ok rows (and its rc) is one job record.
  Status build_full() {
    std::vector<int32_t> used;
    for (const io::VariantRow& row : rows_) {
      if (row.status == io::VariantStatus::kOk) used.push_back(row.reference);
    }
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    // [reference record] -> job record of its forward strand (its rc is the next one).
    std::vector<int32_t> job_record(reference_.records().size(), -1);
    for (const int32_t r : used) {
      const std::span<const uint8_t> x = bases_of(reference_, static_cast<size_t>(r));
      const std::string name(reference_.records()[static_cast<size_t>(r)].name);
      job_record[static_cast<size_t>(r)] = static_cast<int32_t>(out_.stream.num_records());
      RM_RETURN_IF_ERROR(out_.stream.append(name, x));
      if (options_.rc_average) {
        RM_RETURN_IF_ERROR(out_.stream.append(name + "/rc", reverse_complement(x)));
      }
    }
    for (size_t i = 0; i < rows_.size(); ++i) {
      const io::VariantRow& row = rows_[i];
      if (row.status != io::VariantStatus::kOk) continue;
      const int32_t fwd = job_record[static_cast<size_t>(row.reference)];
      const std::span<const uint8_t> x = bases_of(reference_, static_cast<size_t>(row.reference));
      out_.fwd_branch[i] = add_branch(row, Strand(x, false), fwd, /*left=*/-1);
      if (options_.rc_average) out_.rc_branch[i] = add_branch(row, Strand(x, true), fwd + 1, -1);
    }
    return ok_status();
  }

  // Windowed: one record per VCF record with ok rows (and its rc window).
  Status build_windows() {
    for (size_t i = 0; i < rows_.size();) {
      size_t end = i;  // rows_[i, end) are the ALTs of one VCF record
      bool any_ok = false;
      while (end < rows_.size() && rows_[end].record == rows_[i].record) {
        any_ok |= rows_[end].status == io::VariantStatus::kOk;
        ++end;
      }
      if (any_ok) {
        const std::span<const uint8_t> x =
            bases_of(reference_, static_cast<size_t>(rows_[i].reference));
        RM_RETURN_IF_ERROR(add_window(i, end, Strand(x, false), &out_.fwd_branch));
        if (options_.rc_average) {
          RM_RETURN_IF_ERROR(add_window(i, end, Strand(x, true), &out_.rc_branch));
        }
      }
      i = end;
    }
    return ok_status();
  }

  // The window left R right of rows_[first, end) on `strand`, and a branch per ok row.
  Status add_window(size_t first, size_t end, const Strand& strand,
                    std::vector<int32_t>* branch_of) {
    const io::VcfRecord& record = record_of(rows_[first]);
    const auto ref_len = static_cast<int64_t>(record.ref.size());
    const int64_t a = strand.start_of(record.pos - 1, ref_len);
    const int64_t left_begin = std::max<int64_t>(0, a - options_.context);
    const std::vector<uint8_t> window = strand.slice(left_begin, a + ref_len + options_.downstream);
    const auto job_record = static_cast<int32_t>(out_.stream.num_records());
    std::string name = record.chrom;
    name.append(":").append(std::to_string(record.pos));
    if (branch_of == &out_.rc_branch) name.append("/rc");
    RM_RETURN_IF_ERROR(out_.stream.append(name, window));
    for (size_t i = first; i < end; ++i) {
      if (rows_[i].status != io::VariantStatus::kOk) continue;
      (*branch_of)[i] = add_branch(rows_[i], strand, job_record, a - left_begin);
    }
    return ok_status();
  }

  // The branch of `row` on `strand`, whose bases are job record `job_record`. `left`: the
  // length of the left context inside that record (-1: the whole strand, full context).
  int32_t add_branch(const io::VariantRow& row, const Strand& strand, int32_t job_record,
                     int64_t left) {
    const io::VcfRecord& record = record_of(row);
    const auto ref_len = static_cast<int64_t>(record.ref.size());
    const int64_t a = strand.start_of(record.pos - 1, ref_len);
    const std::vector<uint8_t> right = strand.slice(a + ref_len, a + ref_len + options_.downstream);
    VariantBranch branch;
    branch.record = job_record;
    branch.base = (left < 0 ? a : left) + 1;
    branch.tokens = strand.allele(record.alts[static_cast<size_t>(row.allele)]);
    branch.tokens.insert(branch.tokens.end(), right.begin(), right.end());
    branch.ref_first =
        out_.stream.records()[static_cast<size_t>(job_record)].offset + branch.base - 1;
    branch.ref_count = ref_len + static_cast<int64_t>(right.size());
    out_.branch_tokens += static_cast<int64_t>(branch.tokens.size());
    out_.branches.push_back(std::move(branch));
    return static_cast<int32_t>(out_.branches.size() - 1);
  }

  const io::VcfCalls& calls_;
  std::span<const io::VariantRow> rows_;
  const io::TokenStream& reference_;
  VariantOptions options_;
  VariantRecords out_;
};

}  // namespace

std::vector<uint8_t> reverse_complement(std::span<const uint8_t> ids) {
  std::vector<uint8_t> out(ids.size());
  std::transform(ids.rbegin(), ids.rend(), out.begin(), complement);
  return out;
}

StatusOr<VariantRecords> build_variant_records(const io::VcfCalls& calls,
                                               std::span<const io::VariantRow> rows,
                                               const io::TokenStream& reference,
                                               const VariantOptions& options) {
  RM_CHECK(reference.vocab() == io::Vocab::kDna) << "variants need a dna reference";
  return Builder(calls, rows, reference, options).build();
}

}  // namespace ringmaster::coordinator
