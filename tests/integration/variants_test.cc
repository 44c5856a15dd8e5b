// `ringmaster run --task variants` with 1-4 worker processes against the float64 reference
// (tests/reference/variants_ref.py, which runs two full forwards per ALT): a model of all five
// mixers and a model of attention blocks, full context and windows (--context), with and without
// --rc-average, over a VCF of SNVs, MNVs, insertions and deletions at the ends of records, inside
// the first FIT group and across group and ATLAS chunk boundaries, plus every skipped status.
// Every row of variants.tsv within MODEL.md's tolerance with the reference's status; the counts
// in summary.json; variants.vcf.gz (its RM_DLL* INFO fields against the same rows) and its index;
// a job with nothing to score; refusals with nothing written (a CHROM not in the reference, a
// truncated VCF, a bidirectional or bytes model).
//
// The models, the reference FASTA, the VCFs and the reference rows come from the variants_env
// fixture (make_variants_env.sh), made once per ctest run.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tests/integration/process.h"

namespace ringmaster::testing {
namespace {

namespace fs = std::filesystem;

// MODEL.md "Tolerances": |dll - reference| <= 1e-4 x (|LL_alt| + |LL_ref|), summed over the
// strands used.
constexpr double kTolerance = 1e-4;
// variants.vcf.gz's floats are written by htslib as float32 in %g form: a few significant digits
// fewer than the TSV's, so they get this much more, relative to the value.
constexpr double kVcfDigits = 1e-5;
// launcher/exit_codes.h: the input, model or output path is unusable; no worker ran.
constexpr int kExitBadInput = 6;
const std::string kTsvHeader = "chrom\tpos\tid\tref\talt\tdll\tdll_fwd\tdll_rc\tstatus";
const std::vector<std::string> kStatuses = {"ok", "ref_mismatch", "skipped_symbolic",
                                            "skipped_allele"};

std::string env_file(const std::string& name) {
  return std::string(RINGMASTER_VARIANTS_ENV) + "/" + name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A gzip or bgzip file's whole text (every member, as bgzip writes a series of them); a plain
// file as it is. Empty, and a test failure, when it does not inflate.
std::string read_text(const std::string& path) {
  const std::string raw = read_bytes(path);
  if (raw.size() < 2 || raw[0] != '\x1f' || raw[1] != '\x8b') return raw;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    ADD_FAILURE() << "inflateInit2";
    return "";
  }
  std::string text;
  char buffer[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  int code = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    code = inflate(&z, Z_NO_FLUSH);
    text.append(buffer, sizeof(buffer) - z.avail_out);
    if (code == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // the next member
      continue;
    }
    if (code != Z_OK) break;
  }
  inflateEnd(&z);
  if (code != Z_STREAM_END) {
    ADD_FAILURE() << path << " does not inflate (zlib " << code << ")";
    return "";
  }
  return text;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> fields;
  size_t at = 0;
  while (true) {
    const size_t end = text.find(sep, at);
    fields.push_back(text.substr(at, end - at));
    if (end == std::string::npos) return fields;
    at = end + 1;
  }
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A value of a TSV or VCF field: nullopt for a missing one ("." or empty); NaN for text that is
// not a number, so that it fails every comparison.
std::optional<double> number(const std::string& field) {
  if (field.empty() || field == ".") return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(field.c_str(), &end);
  if (end != field.c_str() + field.size()) return std::nan("");
  return value;
}

// One row (one ALT) of ours or of the reference; the ll_* fields are the reference's only.
struct Row {
  std::string chrom, pos, id, ref, alt, status;
  std::optional<double> dll, dll_fwd, dll_rc;
  std::optional<double> ll_alt_fwd, ll_ref_fwd, ll_alt_rc, ll_ref_rc;
};

std::vector<Row> read_ours(const std::string& dir) {
  std::vector<Row> rows;
  std::istringstream tsv(read_bytes(dir + "/variants.tsv"));
  std::string line;
  std::getline(tsv, line);
  EXPECT_EQ(line, kTsvHeader);
  while (std::getline(tsv, line)) {
    const std::vector<std::string> f = split(line, '\t');
    if (f.size() != 9) {
      ADD_FAILURE() << "variants.tsv: " << f.size() << " fields in '" << line << "'";
      continue;
    }
    Row r;
    r.chrom = f[0], r.pos = f[1], r.id = f[2], r.ref = f[3], r.alt = f[4], r.status = f[8];
    r.dll = number(f[5]), r.dll_fwd = number(f[6]), r.dll_rc = number(f[7]);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<Row> read_reference(const std::string& name) {
  std::vector<Row> rows;
  std::istringstream tsv(read_bytes(env_file("ref_" + name + "/variants_ref.tsv")));
  std::string line;
  std::getline(tsv, line);
  EXPECT_EQ(line, kTsvHeader.substr(0, kTsvHeader.size() - 7) +
                      "\tll_alt_fwd\tll_ref_fwd\tll_alt_rc\tll_ref_rc\tstatus");
  while (std::getline(tsv, line)) {
    const std::vector<std::string> f = split(line, '\t');
    if (f.size() != 13) {
      ADD_FAILURE() << name << ": " << f.size() << " fields in '" << line << "'";
      continue;
    }
    Row r;
    r.chrom = f[0], r.pos = f[1], r.id = f[2], r.ref = f[3], r.alt = f[4], r.status = f[12];
    r.dll = number(f[5]), r.dll_fwd = number(f[6]), r.dll_rc = number(f[7]);
    r.ll_alt_fwd = number(f[8]), r.ll_ref_fwd = number(f[9]);
    r.ll_alt_rc = number(f[10]), r.ll_ref_rc = number(f[11]);
    rows.push_back(std::move(r));
  }
  EXPECT_FALSE(rows.empty()) << name;
  return rows;
}

// The allowed error of a reference row's dll_fwd, dll_rc and dll (MODEL.md "Tolerances").
struct Allowed {
  double fwd = 0, rc = 0;
  double dll() const { return fwd + rc; }
};

Allowed allowed(const Row& ref) {
  Allowed a;
  a.fwd = kTolerance *
          (std::fabs(ref.ll_alt_fwd.value_or(NAN)) + std::fabs(ref.ll_ref_fwd.value_or(NAN)));
  if (ref.dll_rc) {
    a.rc = kTolerance *
           (std::fabs(ref.ll_alt_rc.value_or(NAN)) + std::fabs(ref.ll_ref_rc.value_or(NAN)));
  }
  return a;
}

// Within `tolerance` of the reference; a missing or non-finite value never is (nor a NaN bound).
bool close(const std::optional<double>& ours, const std::optional<double>& ref, double tolerance) {
  return ours && ref && std::isfinite(*ours) && std::fabs(*ours - *ref) <= tolerance;
}

std::string show(const std::optional<double>& v) { return v ? std::to_string(*v) : "."; }

// Every row: the same ALT in the same order, the same status; a score within the tolerance where
// the reference has one (dll_rc only with --rc-average), none where it has none.
::testing::AssertionResult matches(const std::vector<Row>& ours, const std::vector<Row>& ref) {
  if (ours.size() != ref.size()) {
    return ::testing::AssertionFailure() << ours.size() << " rows, reference " << ref.size();
  }
  for (size_t i = 0; i < ref.size(); ++i) {
    const Row& a = ours[i];
    const Row& b = ref[i];
    const std::string where = b.chrom + ":" + b.pos + " " + b.ref + ">" + b.alt;
    if (a.chrom != b.chrom || a.pos != b.pos || a.id != b.id || upper(a.ref) != upper(b.ref) ||
        upper(a.alt) != upper(b.alt)) {
      return ::testing::AssertionFailure()
             << "row " << i << " is " << a.chrom << ":" << a.pos << " " << a.id << " " << a.ref
             << ">" << a.alt << ", the reference " << where << " " << b.id;
    }
    if (a.status != b.status) {
      return ::testing::AssertionFailure()
             << where << ": status " << a.status << ", the reference " << b.status;
    }
    if (b.status != "ok") {
      if (a.dll || a.dll_fwd || a.dll_rc) {
        return ::testing::AssertionFailure() << where << ": a score on a " << b.status << " row";
      }
      continue;
    }
    const Allowed tol = allowed(b);
    const bool rc = b.dll_rc.has_value();
    if (!close(a.dll_fwd, b.dll_fwd, tol.fwd) || (rc && !close(a.dll_rc, b.dll_rc, tol.rc)) ||
        (!rc && a.dll_rc) || !close(a.dll, b.dll, tol.dll())) {
      return ::testing::AssertionFailure()
             << where << ": dll " << show(a.dll) << " fwd " << show(a.dll_fwd) << " rc "
             << show(a.dll_rc) << ", the reference " << show(b.dll) << " fwd " << show(b.dll_fwd)
             << " rc " << show(b.dll_rc) << " (allowed " << tol.fwd << " fwd, " << tol.rc << " rc)";
    }
  }
  return ::testing::AssertionSuccess();
}

// summary.json's row counts per status: the object "variants" with a count for each of the four
// statuses (kept in this one function, the place to change if the layout changes).
// summary.json's "variants": {"status": {"ok": n, ...}}.
std::optional<int64_t> summary_count(const nlohmann::json& summary, const std::string& status) {
  const nlohmann::json::json_pointer at("/variants/status/" + status);
  if (!summary.contains(at)) return std::nullopt;
  return summary.at(at).get<int64_t>();
}

::testing::AssertionResult counts_match(const std::string& dir, const std::vector<Row>& ref) {
  const nlohmann::json summary = nlohmann::json::parse(read_bytes(dir + "/summary.json"));
  if (summary.value("task", "") != "variants") {
    return ::testing::AssertionFailure() << "summary.json task " << summary.value("task", "");
  }
  for (const std::string& status : kStatuses) {
    int64_t want = 0;
    for (const Row& r : ref) want += r.status == status ? 1 : 0;
    const std::optional<int64_t> got = summary_count(summary, status);
    if (got != want) {
      return ::testing::AssertionFailure()
             << "summary.json: " << (got ? std::to_string(*got) : "no") << " " << status
             << " rows, the reference " << want << ": " << summary.dump();
    }
  }
  return ::testing::AssertionSuccess();
}

// The value list of INFO tag `key` (Number=A: one per ALT), or nullopt when the tag is absent.
std::optional<std::vector<std::string>> info_values(const std::string& info,
                                                    const std::string& key) {
  for (const std::string& item : split(info, ';')) {
    if (item.compare(0, key.size() + 1, key + "=") == 0) {
      return split(item.substr(key.size() + 1), ',');
    }
  }
  return std::nullopt;
}

// variants.vcf.gz: bgzip with an index beside it; RM_DLL, RM_DLL_FWD, RM_DLL_RC declared
// Number=A; the input's records in order, each with the scores of its ALTs' reference rows (a
// tag left out, or ".", where no ALT of it or that ALT has no score).
::testing::AssertionResult vcf_matches(const std::string& dir, const std::string& input_vcf,
                                       const std::vector<Row>& ref) {
  const std::string path = dir + "/variants.vcf.gz";
  const std::string raw = read_bytes(path);
  // BGZF: gzip with the FEXTRA flag and a "BC" subfield.
  if (raw.size() < 18 || raw.compare(0, 4, std::string("\x1f\x8b\x08\x04", 4)) != 0 ||
      raw.compare(12, 2, "BC") != 0) {
    return ::testing::AssertionFailure() << path << " is not bgzip-compressed";
  }
  if (!fs::exists(path + ".tbi") && !fs::exists(path + ".csi")) {
    return ::testing::AssertionFailure() << path << " has no .tbi or .csi index";
  }
  const std::vector<std::string> ours = split(read_text(path), '\n');
  for (const char* key : {"RM_DLL", "RM_DLL_FWD", "RM_DLL_RC"}) {
    bool declared = false;
    for (const std::string& line : ours) {
      declared |= line.rfind(std::string("##INFO=<ID=") + key + ",Number=A,", 0) == 0;
    }
    if (!declared) return ::testing::AssertionFailure() << key << " is not declared Number=A";
  }
  std::vector<std::vector<std::string>> records, inputs;
  for (const std::string& line : ours) {
    if (!line.empty() && line[0] != '#') records.push_back(split(line, '\t'));
  }
  for (const std::string& line : split(read_text(input_vcf), '\n')) {
    if (!line.empty() && line[0] != '#') inputs.push_back(split(line, '\t'));
  }
  if (records.size() != inputs.size()) {
    return ::testing::AssertionFailure()
           << records.size() << " records in " << path << ", " << inputs.size() << " in input";
  }
  size_t row = 0;
  for (size_t r = 0; r < records.size(); ++r) {
    const std::vector<std::string>& rec = records[r];
    if (rec.size() < 8 || rec[0] != inputs[r][0] || rec[1] != inputs[r][1] ||
        rec[4] != inputs[r][4]) {
      return ::testing::AssertionFailure() << "record " << r << " differs from the input's";
    }
    const std::vector<std::string> alts = split(rec[4], ',');
    if (row + alts.size() > ref.size()) return ::testing::AssertionFailure() << "too few rows";
    struct Tag {
      const char* key;
      std::optional<double> Row::*value;
    };
    for (const Tag& tag : {Tag{"RM_DLL", &Row::dll}, Tag{"RM_DLL_FWD", &Row::dll_fwd},
                           Tag{"RM_DLL_RC", &Row::dll_rc}}) {
      const std::optional<std::vector<std::string>> values = info_values(rec[7], tag.key);
      for (size_t k = 0; k < alts.size(); ++k) {
        const Row& b = ref[row + k];
        const std::optional<double> want = b.*tag.value;
        const std::optional<double> got =
            values && k < values->size() ? number((*values)[k]) : std::nullopt;
        if (values && values->size() != alts.size() && rec[4] != ".") {
          return ::testing::AssertionFailure()
                 << rec[0] << ":" << rec[1] << " " << tag.key << " has " << values->size()
                 << " values for " << alts.size() << " ALTs";
        }
        const Allowed tol = allowed(b);
        const double bound = (tag.value == &Row::dll_fwd  ? tol.fwd
                              : tag.value == &Row::dll_rc ? tol.rc
                                                          : tol.dll()) +
                             kVcfDigits * std::fabs(want.value_or(0));
        if (want ? !close(got, want, bound) : got.has_value()) {
          return ::testing::AssertionFailure()
                 << rec[0] << ":" << rec[1] << " ALT " << alts[k] << " " << tag.key << "="
                 << show(got) << ", the reference " << show(want);
        }
      }
    }
    row += alts.size();
  }
  if (row != ref.size()) return ::testing::AssertionFailure() << "rows left over";
  return ::testing::AssertionSuccess();
}

std::vector<std::string> variants_args(const std::string& model, const std::string& vcf,
                                       int workers, const std::string& out,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {ringmaster_binary(),
                                   "run",
                                   "--model",
                                   env_file(model),
                                   "--input",
                                   env_file("ref.fa"),
                                   "--variants",
                                   env_file(vcf),
                                   "--task",
                                   "variants",
                                   "--workers",
                                   std::to_string(workers),
                                   "--out",
                                   out};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class VariantsJob : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(env_file("complete")))
        << RINGMASTER_VARIANTS_ENV << " is incomplete: run VariantsEnv.Setup (ctest does)";
  }
};

// One reference case of make_variants_env.sh (ref_<name>/) and its flags there.
struct Reference {
  std::string name, model, vcf;
  std::vector<std::string> flags;
};
const Reference kAllFull{"all_full", "all", "calls.vcf", {"--downstream", "40"}};
const Reference kAllFullRc{
    "all_full_rc", "all", "calls.vcf.gz", {"--downstream", "40", "--rc-average"}};
const Reference kAllWindow{
    "all_window", "all", "calls.vcf", {"--downstream", "24", "--context", "150"}};
const Reference kAllWindowRc{"all_window_rc",
                             "all",
                             "calls.vcf.gz",
                             {"--downstream", "24", "--context", "150", "--rc-average"}};
// The default D (1024): the downstream windows reach the end of most records.
const Reference kAttentionFull{"attention_full", "attention", "calls.vcf.gz", {}};
const Reference kAttentionSkipped{
    "attention_skipped", "attention", "skipped.vcf", {"--downstream", "40"}};

struct VariantsCase {
  Reference ref;
  int workers;
  std::string plan;
  bool representative;  // runs in every build (Loopback), else only with the label matrix
};

std::string case_name(const ::testing::TestParamInfo<VariantsCase>& info) {
  // append, not operator+: GCC 12's -Wrestrict misfires on the latter (GCC bug 105329).
  return std::string(info.param.ref.name)
      .append("_P")
      .append(std::to_string(info.param.workers))
      .append("_")
      .append(info.param.plan);
}

void PrintTo(const VariantsCase& c, std::ostream* os) { *os << case_name({c, 0}); }

// Runs one case and checks every output against its reference.
void run_case(const Reference& ref, int workers, const std::string& plan) {
  if (workers > 1 && !have_ucx()) GTEST_SKIP() << "more than one worker needs UCX";
  TempDir dir;
  const std::string out = dir.file("out");
  std::vector<std::string> extra = ref.flags;
  extra.insert(extra.end(), {"--plan", plan});
  std::string output;
  ASSERT_EQ(run_command(variants_args(ref.model, ref.vcf, workers, out, extra), &output), 0)
      << output;
  const std::vector<Row> want = read_reference(ref.name);
  EXPECT_TRUE(matches(read_ours(out), want));
  EXPECT_TRUE(counts_match(out, want));
  EXPECT_TRUE(vcf_matches(out, env_file(ref.vcf), want));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out"});
  EXPECT_TRUE(wait_until_gone(out, milliseconds(5000)).empty()) << "processes left behind";
}

class Variants : public ::testing::WithParamInterface<VariantsCase>, public VariantsJob {};

TEST_P(Variants, MatchesReference) {
  const VariantsCase& c = GetParam();
  run_case(c.ref, c.workers, c.plan);
}

// The all-mixer model at full context on P = 1..4; the reverse strand, windows with and without
// it; the attention model (plan zigzag at P = 3, where its ranks hold both ends of a record). A
// few representatives run in every build; the rest carry the label matrix.
std::vector<VariantsCase> variants_cases(bool representatives) {
  const std::vector<VariantsCase> all = {
      {kAllFull, 1, "contiguous", true},      {kAllFull, 2, "contiguous", false},
      {kAllFull, 3, "contiguous", true},      {kAllFull, 4, "contiguous", false},
      {kAllFullRc, 2, "contiguous", true},    {kAllWindow, 2, "contiguous", true},
      {kAllWindowRc, 3, "contiguous", false}, {kAttentionFull, 1, "contiguous", false},
      {kAttentionFull, 3, "zigzag", true},
  };
  std::vector<VariantsCase> cases;
  for (const VariantsCase& c : all) {
    if (c.representative == representatives) cases.push_back(c);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Loopback, Variants, ::testing::ValuesIn(variants_cases(true)), case_name);
INSTANTIATE_TEST_SUITE_P(Matrix, Variants, ::testing::ValuesIn(variants_cases(false)), case_name);

// No ALT to score (a <DEL>, a REF mismatch, a letter outside ACGTN): the job still writes its
// outputs, every row unscored, with the counts.
TEST_F(VariantsJob, NothingToScoreStillWritesOutputs) {
  run_case(kAttentionSkipped, 2, "contiguous");
}

// A refused job: exit 6 (bad input, before any worker ran), the output names `words`, and
// nothing is written. Returns what it printed.
std::string expect_refused(const std::string& model, const std::string& vcf,
                           const std::vector<std::string>& words) {
  TempDir dir;
  std::string output;
  EXPECT_EQ(
      run_command(variants_args(model, vcf, 2, dir.file("out"), {"--downstream", "16"}), &output),
      kExitBadInput)
      << output;
  for (const std::string& word : words) {
    EXPECT_NE(output.find(word), std::string::npos) << "no '" << word << "' in: " << output;
  }
  EXPECT_TRUE(dir.entries().empty()) << output;
  EXPECT_TRUE(wait_until_gone(dir.file("out"), milliseconds(5000)).empty());
  return output;
}

// chrZ is on line 7 of bad_chrom.vcf, after two good records.
TEST_F(VariantsJob, ChromNotInReferenceNamesTheLine) {
  const std::string output =
      expect_refused("all", "bad_chrom.vcf", {env_file("bad_chrom.vcf"), "chrZ"});
  // "line 7" or "bad_chrom.vcf:7": the line number beside the file, not a stray digit.
  EXPECT_TRUE(output.find("line 7") != std::string::npos ||
              output.find("bad_chrom.vcf:7") != std::string::npos)
      << output;
}

TEST_F(VariantsJob, TruncatedVcfWritesNothing) {
  expect_refused("all", "truncated.vcf.gz", {env_file("truncated.vcf.gz")});
}

TEST_F(VariantsJob, RefusesBidirectionalAndBytesModels) {
  expect_refused("bidirectional", "calls.vcf",
                 {env_file("bidirectional") + "/config.json", "causal"});
  expect_refused("bytes", "calls.vcf", {env_file("bytes") + "/config.json", "dna"});
}

}  // namespace
}  // namespace ringmaster::testing
