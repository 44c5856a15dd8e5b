// tests/unit/io/vcf_test.cc: io/vcf.h and io/variants.h: reading VCF text, bgzip and BCF (made
// here with htslib), places in errors, the row statuses, variants.tsv, and the annotated
// variants.vcf.gz read back with htslib.
#include "io/vcf.h"

#include <gtest/gtest.h>
#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/vcf.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/variants.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;

// Line 1..6 header, records from line 7 on.
constexpr char kVcf[] =
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=12>\n"
    "##contig=<ID=chr2,length=8>\n"
    "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
    "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
    "chr1\t2\trs1\tC\tT\t50\tPASS\tDP=10\tGT\t0/1\t1/1\n"    // 7: SNV
    "chr1\t3\t.\tG\tA,GTT,<DEL>\t.\t.\t.\tGT\t0/1\t0/2\n"    // 8: multi-allelic, insertion
    "chr1\t5\trs3\tACG\tA\t.\t.\t.\tGT\t0/1\t0/0\n"          // 9: deletion
    "chr1\t9\t.\tN\tG\t.\t.\t.\tGT\t0/1\t0/0\n"              // 10: REF N on N
    "chr2\t1\t.\tT\tC\t.\t.\t.\tGT\t0/1\t0/0\n"              // 11: ref mismatch (A)
    "chr2\t2\t.\tC\t.\t.\t.\t.\tGT\t0/0\t0/0\n"              // 12: ALT '.'
    "chr2\t3\t.\tG\tR,*,G]chr1:3]\t.\t.\t.\tGT\t0/1\t0/1\n"  // 13: IUPAC ALT, '*', breakend
    "chr2\t8\t.\tTA\tT\t.\t.\t.\tGT\t0/1\t0/1\n";            // 14: REF past the end

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void write_bgzip(const std::string& path, const std::string& text) {
  BGZF* out = bgzf_open(path.c_str(), "w");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(bgzf_write(out, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(bgzf_close(out), 0);
}

// Converts VCF text at `vcf_path` to BCF with htslib.
void write_bcf(const std::string& vcf_path, const std::string& bcf_path) {
  htsFile* in = hts_open(vcf_path.c_str(), "r");
  ASSERT_NE(in, nullptr);
  bcf_hdr_t* header = bcf_hdr_read(in);
  ASSERT_NE(header, nullptr);
  htsFile* out = hts_open(bcf_path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(bcf_hdr_write(out, header), 0);
  bcf1_t* record = bcf_init();
  while (bcf_read(in, header, record) == 0) ASSERT_EQ(bcf_write(out, header, record), 0);
  bcf_destroy(record);
  ASSERT_EQ(hts_close(out), 0);
  bcf_hdr_destroy(header);
  ASSERT_EQ(hts_close(in), 0);
}

TokenStream reference() {
  TokenStream stream(Vocab::kDna);
  // chr1 = ACGTACGTNNAC, chr2 = AACGTTGT
  const std::vector<uint8_t> chr1 = {0, 1, 2, 3, 0, 1, 2, 3, 4, 4, 0, 1};
  const std::vector<uint8_t> chr2 = {0, 0, 1, 2, 3, 3, 2, 3};
  EXPECT_TRUE(stream.append("chr1", chr1).ok());
  EXPECT_TRUE(stream.append("chr2", chr2).ok());
  return stream;
}

void expect_records(const VcfCalls& calls) {
  ASSERT_EQ(calls.records.size(), 8u);
  const VcfRecord& multi = calls.records[1];
  EXPECT_EQ(multi.chrom, "chr1");
  EXPECT_EQ(multi.pos, 3);
  EXPECT_EQ(multi.id, ".");
  EXPECT_EQ(multi.ref, "G");
  EXPECT_EQ(multi.alts, (std::vector<std::string>{"A", "GTT", "<DEL>"}));
  EXPECT_EQ(calls.records[0].id, "rs1");
  EXPECT_EQ(calls.records[2].ref, "ACG");
  EXPECT_TRUE(calls.records[5].alts.empty());
  EXPECT_EQ(calls.records[6].alts, (std::vector<std::string>{"R", "*", "G]chr1:3]"}));
}

TEST(Vcf, ReadsPlainTextWithLineNumbers) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"), kVcf);
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok()) << calls.status().to_string();
  expect_records(*calls);
  EXPECT_FALSE(calls->binary);
  EXPECT_EQ(calls->records[0].place, 7);
  EXPECT_EQ(calls->records[7].place, 14);
  EXPECT_EQ(calls->where(calls->records[1]), dir.file("calls.vcf") + " line 8");
}

TEST(Vcf, ReadsBgzip) {
  testing::TempDir dir;
  write_bgzip(dir.file("calls.vcf.gz"), kVcf);
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf.gz"));
  ASSERT_TRUE(calls.ok()) << calls.status().to_string();
  expect_records(*calls);
  EXPECT_EQ(calls->records[3].place, 10);
}

TEST(Vcf, ReadsBcfWithRecordNumbers) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"), kVcf);
  write_bcf(dir.file("calls.vcf"), dir.file("calls.bcf"));
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.bcf"));
  ASSERT_TRUE(calls.ok()) << calls.status().to_string();
  expect_records(*calls);
  EXPECT_TRUE(calls->binary);
  EXPECT_EQ(calls->where(calls->records[1]), dir.file("calls.bcf") + " record 2");
}

TEST(Vcf, AcceptsUndeclaredContigs) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"),
             "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
             "chrZ\t1\t.\tA\tC\t.\t.\t.\n");
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok()) << calls.status().to_string();
  EXPECT_EQ(calls->records[0].chrom, "chrZ");
}

TEST(Vcf, TruncatedBgzipIsAClearError) {
  testing::TempDir dir;
  std::string text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  for (int i = 1; i <= 20000; ++i) text += "chr1\t" + std::to_string(i) + "\t.\tA\tC\t.\t.\t.\n";
  const std::string path = dir.file("calls.vcf.gz");
  write_bgzip(path, text);
  fs::resize_file(path, fs::file_size(path) / 2);
  StatusOr<VcfCalls> calls = read_vcf(path);
  ASSERT_FALSE(calls.ok());
  EXPECT_EQ(calls.status().code(), StatusCode::kDataLoss) << calls.status().to_string();
  EXPECT_NE(calls.status().message().find(path + ": the BGZF end-of-file marker is missing"),
            std::string::npos)
      << calls.status().to_string();
}

// A plain gzip stream (no BGZF marker to check) cut in the middle: the cut line is not blamed.
TEST(Vcf, TruncatedGzipIsAClearError) {
  testing::TempDir dir;
  std::string text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n";
  for (int i = 1; i <= 20000; ++i) text += "chr1\t" + std::to_string(i) + "\t.\tA\tC\t.\t.\t.\n";
  const std::string path = dir.file("calls.vcf.gz");
  gzFile out = gzopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(gzwrite(out, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(out), Z_OK);
  fs::resize_file(path, fs::file_size(path) / 2);
  StatusOr<VcfCalls> calls = read_vcf(path);
  ASSERT_FALSE(calls.ok());
  EXPECT_EQ(calls.status().code(), StatusCode::kDataLoss) << calls.status().to_string();
  EXPECT_NE(calls.status().message().find(path + " after line"), std::string::npos)
      << calls.status().to_string();
}

TEST(Vcf, MalformedInputNamesTheFileAndLine) {
  testing::TempDir dir;
  write_text(dir.file("short.vcf"),
             "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
             "chr1\t1\t.\tA\tC\t.\t.\t.\nchr1\t2\t.\tA\n");
  StatusOr<VcfCalls> calls = read_vcf(dir.file("short.vcf"));
  ASSERT_FALSE(calls.ok());
  EXPECT_NE(calls.status().message().find("short.vcf line 4: has 4 columns"), std::string::npos)
      << calls.status().to_string();

  write_text(dir.file("fasta.vcf"), ">chr1\nACGT\n");
  calls = read_vcf(dir.file("fasta.vcf"));
  ASSERT_FALSE(calls.ok());
  EXPECT_NE(calls.status().message().find("fasta.vcf"), std::string::npos);

  calls = read_vcf(dir.file("missing.vcf"));
  ASSERT_FALSE(calls.ok());
  EXPECT_NE(calls.status().message().find("missing.vcf: cannot open"), std::string::npos)
      << calls.status().to_string();

  write_text(dir.file("empty.vcf"), "");
  EXPECT_FALSE(read_vcf(dir.file("empty.vcf")).ok());
}

TEST(Variants, ClassifiesEveryAlt) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"), kVcf);
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok());
  const TokenStream ref = reference();
  StatusOr<std::vector<VariantRow>> rows = classify_variants(*calls, ref, "ref.fa");
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  std::vector<std::string> statuses;
  for (const VariantRow& row : *rows) statuses.emplace_back(variant_status_name(row.status));
  EXPECT_EQ(statuses, (std::vector<std::string>{"ok",                            // SNV
                                                "ok", "ok", "skipped_symbolic",  // multi
                                                "ok",                            // deletion
                                                "ok",                            // N on N
                                                "ref_mismatch",                  // T on A
                                                "skipped_symbolic",              // ALT '.'
                                                "skipped_allele", "skipped_symbolic",
                                                "skipped_symbolic",  // R * ]
                                                "ref_mismatch"}));   // past end
  EXPECT_EQ((*rows)[7].allele, -1);
  EXPECT_EQ((*rows)[6].reference, 1);
  const auto counts = count_statuses(*rows);
  EXPECT_EQ(counts[static_cast<size_t>(VariantStatus::kOk)], 5);
  EXPECT_EQ(counts[static_cast<size_t>(VariantStatus::kSkippedSymbolic)], 4);
}

TEST(Variants, LowerCaseAndIupacRefMatch) {
  testing::TempDir dir;
  write_text(
      dir.file("calls.vcf"),
      "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
      "chr1\t1\t.\tacg\tt\t.\t.\t.\nchr1\t9\t.\tRY\tAC\t.\t.\t.\nchr1\t1\t.\tA-\tC\t.\t.\t.\n");
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok()) << calls.status().to_string();
  StatusOr<std::vector<VariantRow>> rows = classify_variants(*calls, reference(), "ref.fa");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].status, VariantStatus::kOk);
  EXPECT_EQ((*rows)[1].status, VariantStatus::kOk);
  EXPECT_EQ((*rows)[2].status, VariantStatus::kSkippedAllele);
  EXPECT_EQ(allele_ids("acgtn"), (std::vector<uint8_t>{0, 1, 2, 3, 4}));
}

TEST(Variants, ChromNotInReferenceNamesTheLine) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"),
             "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
             "chr1\t1\t.\tA\tC\t.\t.\t.\nchrX\t1\t.\tA\tC\t.\t.\t.\n");
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok());
  StatusOr<std::vector<VariantRow>> rows = classify_variants(*calls, reference(), "ref.fa");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(
      rows.status().message(),
      dir.file("calls.vcf") + " line 4: CHROM 'chrX' is not a record of the reference ref.fa");
}

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

TEST(Variants, WritesTsvAndAnnotatedVcf) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"), kVcf);
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok());
  StatusOr<std::vector<VariantRow>> rows = classify_variants(*calls, reference(), "ref.fa");
  ASSERT_TRUE(rows.ok());
  std::vector<VariantScores> scores(rows->size(), VariantScores{kNan, kNan, kNan});
  scores[0] = {-1.5, -1.5, kNan};
  scores[1] = {0.25, 0.25, kNan};
  ASSERT_TRUE(write_variants_tsv(dir.file("variants.tsv"), *calls, *rows, scores).ok());
  std::ifstream tsv(dir.file("variants.tsv"));
  std::string header, first, second;
  std::getline(tsv, header);
  std::getline(tsv, first);
  std::getline(tsv, second);
  EXPECT_EQ(header, "chrom\tpos\tid\tref\talt\tdll\tdll_fwd\tdll_rc\tstatus");
  EXPECT_EQ(first, "chr1\t2\trs1\tC\tT\t-1.5\t-1.5\t.\tok");
  EXPECT_EQ(second, "chr1\t3\t.\tG\tA\t0.25\t0.25\t.\tok");

  // One value per ALT of the file: rows with allele -1 have none.
  std::vector<std::vector<double>> values(2);
  for (size_t i = 0; i < rows->size(); ++i) {
    if ((*rows)[i].allele < 0) continue;
    values[0].push_back(scores[i].dll);
    values[1].push_back(scores[i].dll_rc);
  }
  const InfoField fields[] = {{"RM_DLL", "delta"}, {"RM_DLL_RC", "rc delta"}};
  bool indexed = false;
  const std::string out = dir.file("variants.vcf.gz");
  Status written = write_annotated_vcf(*calls, out, fields, values, &indexed);
  ASSERT_TRUE(written.ok()) << written.to_string();
  EXPECT_TRUE(indexed);
  EXPECT_TRUE(fs::exists(out + ".csi"));

  htsFile* in = hts_open(out.c_str(), "r");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(hts_get_format(in)->compression, bgzf);
  bcf_hdr_t* header_back = bcf_hdr_read(in);
  ASSERT_NE(header_back, nullptr);
  EXPECT_EQ(bcf_hdr_nsamples(header_back), 2);
  bcf1_t* record = bcf_init();
  float* got = nullptr;
  int got_size = 0;
  ASSERT_EQ(bcf_read(in, header_back, record), 0);  // SNV
  ASSERT_EQ(bcf_get_info_float(header_back, record, "RM_DLL", &got, &got_size), 1);
  EXPECT_FLOAT_EQ(got[0], -1.5f);
  EXPECT_LT(bcf_get_info_float(header_back, record, "RM_DLL_RC", &got, &got_size), 0);  // absent
  ASSERT_EQ(bcf_read(in, header_back, record), 0);  // multi-allelic: 0.25, ., .
  ASSERT_EQ(bcf_get_info_float(header_back, record, "RM_DLL", &got, &got_size), 3);
  EXPECT_FLOAT_EQ(got[0], 0.25f);
  EXPECT_TRUE(bcf_float_is_missing(got[1]));
  EXPECT_TRUE(bcf_float_is_missing(got[2]));
  int records = 2;
  while (bcf_read(in, header_back, record) == 0) ++records;
  EXPECT_EQ(records, 8);
  std::free(got);
  bcf_destroy(record);
  bcf_hdr_destroy(header_back);
  hts_close(in);
}

TEST(Variants, UnsortedInputIsWrittenWithoutIndex) {
  testing::TempDir dir;
  write_text(dir.file("calls.vcf"),
             "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
             "chr1\t5\t.\tA\tC\t.\t.\t.\nchr1\t1\t.\tA\tC\t.\t.\t.\n");
  StatusOr<VcfCalls> calls = read_vcf(dir.file("calls.vcf"));
  ASSERT_TRUE(calls.ok());
  const std::vector<std::vector<double>> values = {{kNan, -2.0}};
  const InfoField fields[] = {{"RM_DLL", "delta"}};
  bool indexed = true;
  ASSERT_TRUE(
      write_annotated_vcf(*calls, dir.file("variants.vcf.gz"), fields, values, &indexed).ok());
  EXPECT_FALSE(indexed);
  EXPECT_FALSE(fs::exists(dir.file("variants.vcf.gz.csi")));
  EXPECT_TRUE(read_vcf(dir.file("variants.vcf.gz")).ok());
}

}  // namespace
}  // namespace ringmaster::io
