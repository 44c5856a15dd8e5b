// coordinator/variant_records.h: a variants job's records and branches (MODEL.md "variants";
// the Branch message of proto/ringmaster.proto), built from the scored rows (io/variants.h)
// and the reference.
//
// For a row with 0-based start a = POS - 1, REF tokens R, ALT tokens A, downstream D and context
// C, on record x:
//   left = x[max(0, a - C) : a]      right = x[a + |R| : a + |R| + D]   (clipped at the end)
// and on the reverse-complement strand (--rc-average) the same with revcomp(x),
// a_rc = |x| - (a + |R|), revcomp(R) and revcomp(A).
//
// Full context (C unlimited): the job's records are the reference records with at least one ok
// row, in reference order, each followed by its reverse complement with --rc-average; no other
// reference record is prefilled. A row's branch is on its strand's record at base a + 1 (fed
// position a + 1 is input base a: <bos> is position 0) with tokens A right.
// Windowed (C given): one record per VCF record with ok rows, in VCF order: left R right (the
// ALTs of a record share it), then its reverse-complement window (built from revcomp(x) and
// a_rc, which is not the revcomp of the forward window where C or D clips); the branch is at
// base |left| + 1.
// Either way the reference side of a branch is the score rows (input indices) of its record's
// tokens [base - 1, base - 1 + |R| + |right|): ref_seq's tokens from |left| on, whose sum is
// LL(ref_seq, |left|).
//
// Pure functions over their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/tokens.h"
#include "io/variants.h"
#include "io/vcf.h"

namespace ringmaster::coordinator {

struct VariantOptions {
  int64_t downstream = 1024;  // D >= 0
  int64_t context = 0;        // C >= 1; 0: unlimited (full context)
  bool rc_average = false;
};

// One ALT allele on one strand.
struct VariantBranch {
  int32_t record = 0;           // a record of the job's stream
  int64_t base = 0;             // fed position of the branch's first token (>= 1)
  std::vector<uint8_t> tokens;  // A then right, dna ids
  int64_t ref_first = 0;        // score row (input index) of the reference side's first token
  int64_t ref_count = 0;        // |R| + |right|: the reference side's rows
};

struct VariantRecords {
  io::TokenStream stream{io::Vocab::kDna};  // the job's records; empty with no ok row
  std::vector<VariantBranch> branches;      // forward and rc branches, in building order
  std::vector<int32_t> fwd_branch;          // [row] -> its forward branch; -1 unless ok
  std::vector<int32_t> rc_branch;           // [row] -> its rc branch; -1 unless ok and rc
  int64_t branch_tokens = 0;                // tokens of every branch together
};

// dna ids reversed and complemented (A<->T, C<->G, N->N).
std::vector<uint8_t> reverse_complement(std::span<const uint8_t> ids);

// Builds the records and branches of `rows` (VCF order) of `calls` on `reference`.
// Errors: a record too long for the stream (io::TokenStream::append).
StatusOr<VariantRecords> build_variant_records(const io::VcfCalls& calls,
                                               std::span<const io::VariantRow> rows,
                                               const io::TokenStream& reference,
                                               const VariantOptions& options);

}  // namespace ringmaster::coordinator
