// A variants job's records and branches (coordinator/variant_records.h) against MODEL.md
// "variants" written out by hand: full context and windows, forward and reverse-complement
// strands, SNVs and indels, and left/right clipping at both ends of a record.
#include "coordinator/variant_records.h"

#include <gtest/gtest.h>

#include <string>

namespace ringmaster::coordinator {
namespace {

std::vector<uint8_t> ids(const std::string& bases) { return io::allele_ids(bases); }

std::string bases(std::span<const uint8_t> ids) {
  std::string text;
  for (const uint8_t id : ids) text += "ACGTN"[id];
  return text;
}

std::string record_bases(const io::TokenStream& stream, int r) {
  const io::RecordSpan span = stream.records()[static_cast<size_t>(r)];
  return bases(stream.input_ids().subspan(static_cast<size_t>(span.offset),
                                          static_cast<size_t>(span.length)));
}

// chrA = AACCGGTTAC (10), chrB = GGGG (no variant), chrC = TACG (4).
struct Fixture {
  io::TokenStream reference{io::Vocab::kDna};
  io::VcfCalls calls;
  std::vector<io::VariantRow> rows;

  Fixture() {
    EXPECT_TRUE(reference.append("chrA", ids("AACCGGTTAC")).ok());
    EXPECT_TRUE(reference.append("chrB", ids("GGGG")).ok());
    EXPECT_TRUE(reference.append("chrC", ids("TACG")).ok());
    calls.path = "calls.vcf";
    add("chrA", 2, "A", {"G", "<DEL>"});  // SNV near the start
    add("chrC", 4, "G", {"T"});           // SNV at the very end of chrC
    add("chrA", 5, "GG", {"G"});          // deletion
    add("chrA", 9, "A", {"ATT"});         // insertion near the end
    add("chrA", 3, "T", {"C"});           // ref mismatch (x[2] = C)
    StatusOr<std::vector<io::VariantRow>> classified =
        io::classify_variants(calls, reference, "ref.fa");
    EXPECT_TRUE(classified.ok());
    rows = *classified;
  }
  void add(const std::string& chrom, int64_t pos, const std::string& ref,
           std::vector<std::string> alts) {
    io::VcfRecord r;
    r.place = static_cast<int64_t>(calls.records.size()) + 3;
    r.chrom = chrom;
    r.pos = pos;
    r.id = ".";
    r.ref = ref;
    r.alts = std::move(alts);
    calls.records.push_back(std::move(r));
  }
  VariantRecords build(VariantOptions options) {
    StatusOr<VariantRecords> built = build_variant_records(calls, rows, reference, options);
    EXPECT_TRUE(built.ok()) << built.status().to_string();
    return std::move(built).value();
  }
};

// The branch's alt and ref sides as bases.
std::string alt_side(const VariantBranch& b) { return bases(b.tokens); }
std::string ref_side(const VariantRecords& v, const VariantBranch& b) {
  return bases(v.stream.input_ids().subspan(static_cast<size_t>(b.ref_first),
                                            static_cast<size_t>(b.ref_count)));
}

TEST(VariantRecords, ReverseComplement) {
  EXPECT_EQ(bases(reverse_complement(ids("AACGTN"))), "NACGTT");
}

TEST(VariantRecords, FullContextPrefillsOnlyRecordsWithVariants) {
  Fixture f;
  const VariantRecords v = f.build({/*downstream=*/2, /*context=*/0, /*rc_average=*/false});
  ASSERT_EQ(v.stream.num_records(), 2);  // chrA and chrC, not chrB
  EXPECT_EQ(record_bases(v.stream, 0), "AACCGGTTAC");
  EXPECT_EQ(record_bases(v.stream, 1), "TACG");
  // rows: A>G, A><DEL>, G>T, GG>G, A>ATT, T>C (mismatch)
  ASSERT_EQ(v.fwd_branch, (std::vector<int32_t>{0, -1, 1, 2, 3, -1}));
  EXPECT_EQ(v.rc_branch, (std::vector<int32_t>(6, -1)));
  const VariantBranch& snv = v.branches[0];
  EXPECT_EQ(snv.record, 0);
  EXPECT_EQ(snv.base, 2);  // a = 1, fed position a + 1
  EXPECT_EQ(alt_side(snv), "GCC");
  EXPECT_EQ(ref_side(v, snv), "ACC");
  const VariantBranch& end = v.branches[1];  // chrC:4, right clipped to nothing
  EXPECT_EQ(end.record, 1);
  EXPECT_EQ(end.base, 4);
  EXPECT_EQ(alt_side(end), "T");
  EXPECT_EQ(ref_side(v, end), "G");
  const VariantBranch& del = v.branches[2];
  EXPECT_EQ(del.base, 5);
  EXPECT_EQ(alt_side(del), "GTT");
  EXPECT_EQ(ref_side(v, del), "GGTT");
  const VariantBranch& ins = v.branches[3];  // right clipped to 1 base
  EXPECT_EQ(ins.base, 9);
  EXPECT_EQ(alt_side(ins), "ATTC");
  EXPECT_EQ(ref_side(v, ins), "AC");
  EXPECT_EQ(v.branch_tokens, 3 + 1 + 3 + 4);
}

TEST(VariantRecords, FullContextReverseComplement) {
  Fixture f;
  const VariantRecords v = f.build({2, 0, true});
  ASSERT_EQ(v.stream.num_records(), 4);
  EXPECT_EQ(record_bases(v.stream, 1), "GTAACCGGTT");  // revcomp(chrA)
  EXPECT_EQ(v.stream.records()[1].name, "chrA/rc");
  EXPECT_EQ(record_bases(v.stream, 3), "CGTA");
  // chrA:2 A>G: a_rc = 10 - (1 + 1) = 8, REF T, ALT C, right = revcomp(x)[9:11] = "T".
  const VariantBranch& snv = v.branches[static_cast<size_t>(v.rc_branch[0])];
  EXPECT_EQ(snv.record, 1);
  EXPECT_EQ(snv.base, 9);
  EXPECT_EQ(alt_side(snv), "CT");
  EXPECT_EQ(ref_side(v, snv), "TT");
  // chrC:4 G>T at the end: a_rc = 0 (the rc record's first base), REF C, ALT A, right "GT".
  const VariantBranch& start = v.branches[static_cast<size_t>(v.rc_branch[2])];
  EXPECT_EQ(start.record, 3);
  EXPECT_EQ(start.base, 1);
  EXPECT_EQ(alt_side(start), "AGT");
  EXPECT_EQ(ref_side(v, start), "CGT");
  // chrA:5 GG>G: a_rc = 10 - 6 = 4, REF CC, ALT C, right "GG".
  const VariantBranch& del = v.branches[static_cast<size_t>(v.rc_branch[3])];
  EXPECT_EQ(del.base, 5);
  EXPECT_EQ(alt_side(del), "CGG");
  EXPECT_EQ(ref_side(v, del), "CCGG");
}

TEST(VariantRecords, WindowsClipAtBothEnds) {
  Fixture f;
  const VariantRecords v = f.build({/*downstream=*/2, /*context=*/3, /*rc_average=*/false});
  // One window per VCF record with ok rows: chrA:2, chrC:4, chrA:5, chrA:9 (not the mismatch).
  ASSERT_EQ(v.stream.num_records(), 4);
  EXPECT_EQ(record_bases(v.stream, 0), "AACC");  // left "A" clipped at the start, R "A", "CC"
  EXPECT_EQ(v.stream.records()[0].name, "chrA:2");
  const VariantBranch& snv = v.branches[static_cast<size_t>(v.fwd_branch[0])];
  EXPECT_EQ(snv.record, 0);
  EXPECT_EQ(snv.base, 2);  // |left| + 1
  EXPECT_EQ(alt_side(snv), "GCC");
  EXPECT_EQ(ref_side(v, snv), "ACC");
  EXPECT_EQ(record_bases(v.stream, 1), "TACG");  // left "TAC", R "G", right clipped
  EXPECT_EQ(v.branches[static_cast<size_t>(v.fwd_branch[2])].base, 4);
  EXPECT_EQ(record_bases(v.stream, 2), "ACCGGTT");  // left "ACC" (cut), R "GG", right "TT"
  const VariantBranch& del = v.branches[static_cast<size_t>(v.fwd_branch[3])];
  EXPECT_EQ(del.base, 4);
  EXPECT_EQ(alt_side(del), "GTT");
  EXPECT_EQ(ref_side(v, del), "GGTT");
  EXPECT_EQ(record_bases(v.stream, 3), "GTTAC");  // left "GTT", R "A", right "C"
}

TEST(VariantRecords, WindowsOnTheReverseStrandFollowTheRcCoordinates) {
  Fixture f;
  const VariantRecords v = f.build({/*downstream=*/1, /*context=*/2, /*rc_average=*/true});
  // chrA:5 GG>G: rc record GTAACCGGTT, a_rc = 4: left = [2, 4) "AA", R "CC", right "G".
  // (The revcomp of the forward window "CCGGT" would be "ACCGG": not the same.)
  const VariantBranch& del = v.branches[static_cast<size_t>(v.rc_branch[3])];
  EXPECT_EQ(record_bases(v.stream, del.record), "AACCG");
  EXPECT_EQ(v.stream.records()[static_cast<size_t>(del.record)].name, "chrA:5/rc");
  EXPECT_EQ(del.base, 3);
  EXPECT_EQ(alt_side(del), "CG");
  EXPECT_EQ(ref_side(v, del), "CCG");
  // chrC:4 G>T: rc record CGTA, a_rc = 0: no left context at all.
  const VariantBranch& start = v.branches[static_cast<size_t>(v.rc_branch[2])];
  EXPECT_EQ(record_bases(v.stream, start.record), "CG");
  EXPECT_EQ(start.base, 1);
  EXPECT_EQ(alt_side(start), "AG");
  // Forward and rc windows alternate: chrA:2, chrA:2/rc, chrC:4, ...
  EXPECT_EQ(v.stream.records()[1].name, "chrA:2/rc");
}

TEST(VariantRecords, NoScorableVariantGivesNoRecords) {
  Fixture f;
  for (io::VariantRow& row : f.rows) row.status = io::VariantStatus::kRefMismatch;
  const VariantRecords v = f.build({1024, 0, true});
  EXPECT_EQ(v.stream.num_records(), 0);
  EXPECT_TRUE(v.branches.empty());
}

}  // namespace
}  // namespace ringmaster::coordinator
