#include "io/outputs.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "io/npy.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::set<std::string> list(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// A fresh, empty parent directory per test, so "nothing left behind" is checkable by listing.
class OutputsTest : public ::testing::Test {
 protected:
  std::string in_parent(const std::string& name) const { return parent_dir_.file(name); }

  testing::TempDir parent_dir_;
  const std::string parent_ = parent_dir_.path().string();
};

RecordTable spans(std::string_view second_name = "chr2") {
  RecordTable table;
  table.append("chr1", 4);       // fed index 0, offset 0
  table.append(second_name, 2);  // fed index 5, offset 4
  return table;
}

TEST_F(OutputsTest, RecordsTsvForEmbed) {
  const std::string path = in_parent("records.tsv");
  ASSERT_TRUE(write_records_tsv(path, spans()).ok());
  EXPECT_EQ(read_file(path), "name\toffset\tlength\nchr1\t0\t4\nchr2\t4\t2\n");
}

TEST_F(OutputsTest, RecordsTsvForScoreAddsNatsAndBits) {
  const std::vector<float> scores = {-1.0f, -0.5f, -0.25f, -0.25f, -2.0f, -1.5f};
  const std::vector<double> totals = sum_per_record(scores, spans());
  EXPECT_EQ(totals, (std::vector<double>{-2.0, -3.5}));
  const std::string path = in_parent("records.tsv");
  ASSERT_TRUE(write_records_tsv(path, spans(), totals).ok());
  // bits per token = -total / (length ln 2): 2 / (4 ln 2) and 3.5 / (2 ln 2).
  char want[512];
  std::snprintf(want, sizeof(want),
                "name\toffset\tlength\tlog_likelihood_nats\tbits_per_token\n"
                "chr1\t0\t4\t-2\t%.17g\nchr2\t4\t2\t-3.5\t%.17g\n",
                2.0 / (4 * std::log(2.0)), 3.5 / (2 * std::log(2.0)));
  const std::string got = read_file(path);
  // Same numbers, whatever the shortest round-trip spelling: compare parsed columns.
  std::istringstream got_lines(got), want_lines(want);
  for (std::string g, w; std::getline(want_lines, w);) {
    ASSERT_TRUE(std::getline(got_lines, g));
    const size_t last_tab_g = g.rfind('\t'), last_tab_w = w.rfind('\t');
    EXPECT_EQ(g.substr(0, last_tab_g), w.substr(0, last_tab_w));
    if (g.rfind("name", 0) == 0) continue;
    EXPECT_EQ(std::stod(g.substr(last_tab_g + 1)), std::stod(w.substr(last_tab_w + 1))) << g;
  }
}

TEST_F(OutputsTest, RecordsTsvRejectsNamesThatBreakColumns) {
  const RecordTable bad = spans("two\twords");
  const Status status = write_records_tsv(in_parent("records.tsv"), bad);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'two\twords'"), std::string::npos);
}

TEST_F(OutputsTest, SummaryJsonHoldsEveryField) {
  JobSummary summary;
  summary.model = "models/demo";
  summary.input = "genome.fa.gz";
  summary.task = "score";
  summary.vocab = "dna";
  summary.plan = "zigzag";
  summary.context_parallel = "hybrid";
  summary.ulysses_degree = 2;
  summary.rank_weights = {2, 1};
  summary.workers = 2;
  summary.records = 3;
  summary.tokens = 1003;
  summary.input_tokens = 1000;
  summary.wall_time_s = 2.0;
  summary.worker_peaks = {{0, "host-a", 1 << 20, -1}, {1, "host-b", 2 << 20, 4096}};
  const std::string path = in_parent("summary.json");
  ASSERT_TRUE(write_summary_json(path, summary).ok());
  const auto json = nlohmann::ordered_json::parse(read_file(path));
  EXPECT_EQ(json["format"], "ringmaster-summary/1");
  EXPECT_EQ(json["model"], "models/demo");
  EXPECT_EQ(json["input"], "genome.fa.gz");
  EXPECT_EQ(json["task"], "score");
  EXPECT_EQ(json["vocab"], "dna");
  EXPECT_EQ(json["plan"], "zigzag");
  EXPECT_EQ(json["context_parallel"], "hybrid");
  EXPECT_EQ(json["ulysses_degree"], 2);
  EXPECT_EQ(json["rank_weights"], nlohmann::json::array({2.0, 1.0}));
  EXPECT_EQ(json["workers"], 2);
  EXPECT_EQ(json["records"], 3);
  EXPECT_EQ(json["tokens"], 1003);
  EXPECT_EQ(json["input_tokens"], 1000);
  EXPECT_EQ(json["wall_time_s"], 2.0);
  EXPECT_EQ(json["tokens_per_s"], 501.5);
  ASSERT_EQ(json["peak_memory"].size(), 2u);
  EXPECT_EQ(json["peak_memory"][0]["rank"], 0);
  EXPECT_EQ(json["peak_memory"][0]["host"], "host-a");
  EXPECT_EQ(json["peak_memory"][0]["peak_rss_bytes"], 1 << 20);
  EXPECT_TRUE(json["peak_memory"][0]["peak_device_bytes"].is_null());
  EXPECT_EQ(json["peak_memory"][1]["peak_device_bytes"], 4096);
  EXPECT_EQ(json.begin().key(), "format");  // fields keep their documented order

  summary.wall_time_s = 0;
  summary.model = "bad\xff-utf8";  // paths need not be UTF-8; the writer must not throw
  ASSERT_TRUE(write_summary_json(path, summary).ok());
  EXPECT_TRUE(nlohmann::json::parse(read_file(path))["tokens_per_s"].is_null());
}

TEST_F(OutputsTest, CommitMovesEverythingIntoPlaceAtOnce) {
  const std::string final_path = in_parent("out");
  auto dir = OutputDir::create(final_path);
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  EXPECT_FALSE(fs::exists(final_path));
  EXPECT_EQ(fs::path(dir->temp_path()).parent_path(), fs::path(parent_));
  EXPECT_EQ(fs::path(dir->temp_path()).filename().string().rfind(".out.ringmaster-tmp.", 0), 0u);

  const float scores[3] = {-1, -2, -3};
  ASSERT_TRUE(write_npy(dir->file(kScoresFile), scores, {3}, "<f4").ok());
  ASSERT_TRUE(write_records_tsv(dir->file(kRecordsFile), spans()).ok());
  EXPECT_FALSE(fs::exists(final_path));  // nothing visible before commit
  ASSERT_TRUE(dir->commit().ok());
  EXPECT_TRUE(dir->committed());
  EXPECT_EQ(list(parent_), (std::set<std::string>{"out"}));
  EXPECT_EQ(list(final_path), (std::set<std::string>{"scores.npy", "records.tsv"}));
  EXPECT_EQ(read_npy(final_path + "/scores.npy")->shape, (Shape{3}));
}

// A job that fails after writing part of its output leaves nothing at all.
TEST_F(OutputsTest, FailureLeavesNothing) {
  auto job = [&]() -> Status {
    RM_ASSIGN_OR_RETURN(OutputDir dir, OutputDir::create(in_parent("out")));
    RM_ASSIGN_OR_RETURN(NpyWriter writer,
                        NpyWriter::create(dir.file(kEmbeddingsFile), {4, 2}, "<f4"));
    const float row[2] = {1, 2};
    RM_RETURN_IF_ERROR(writer.write_rows(0, 1, row));
    return cancelled("worker 1 died");  // before commit
  };
  EXPECT_EQ(job().code(), StatusCode::kCancelled);
  EXPECT_TRUE(list(parent_).empty());
}

TEST_F(OutputsTest, MovedDirCommitsOnceAndSourceCleansNothing) {
  auto made = OutputDir::create(in_parent("out/"));  // a trailing slash is fine
  ASSERT_TRUE(made.ok());
  OutputDir first = std::move(made).value();
  OutputDir second = std::move(first);
  write_file(second.file(kSummaryFile), "{}\n");
  ASSERT_TRUE(second.commit().ok());
  EXPECT_EQ(list(in_parent("out")), (std::set<std::string>{"summary.json"}));
}

TEST_F(OutputsTest, ExistingOutputIsRefusedUnlessReplaceableAndAllowed) {
  const std::string final_path = in_parent("out");
  fs::create_directory(final_path);
  write_file(final_path + "/summary.json", "old\n");
  const auto refused = OutputDir::create(final_path);
  EXPECT_EQ(refused.status().message(), "output path " + final_path + " already exists");

  auto dir = OutputDir::create(final_path, /*replace_existing=*/true);
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  write_file(dir->file(kSummaryFile), "new\n");
  ASSERT_TRUE(dir->commit().ok());
  EXPECT_EQ(read_file(final_path + "/summary.json"), "new\n");
  EXPECT_EQ(list(parent_), (std::set<std::string>{"out"}));  // the old one is gone
}

TEST_F(OutputsTest, NeverReplacesSomeoneElsesDirectory) {
  const std::string final_path = in_parent("home");
  fs::create_directory(final_path);
  write_file(final_path + "/thesis.tex", "precious\n");
  const auto refused = OutputDir::create(final_path, /*replace_existing=*/true);
  EXPECT_EQ(refused.status().message(),
            "refusing to replace " + final_path +
                ": it holds 'thesis.tex', which is not a ringmaster output");
  EXPECT_EQ(read_file(final_path + "/thesis.tex"), "precious\n");
  write_file(in_parent("plain_file"), "x");
  EXPECT_FALSE(OutputDir::create(in_parent("plain_file"), true).ok());
  EXPECT_EQ(list(parent_), (std::set<std::string>{"home", "plain_file"}));
}

TEST_F(OutputsTest, OutputThatAppearsBeforeCommitIsKept) {
  const std::string final_path = in_parent("out");
  {
    auto dir = OutputDir::create(final_path);
    ASSERT_TRUE(dir.ok());
    write_file(dir->file(kSummaryFile), "mine\n");
    fs::create_directory(final_path);  // another job got there first
    write_file(final_path + "/summary.json", "theirs\n");
    EXPECT_EQ(dir->commit().message(), "output path " + final_path + " already exists");
  }
  EXPECT_EQ(read_file(final_path + "/summary.json"), "theirs\n");
  EXPECT_EQ(list(parent_), (std::set<std::string>{"out"}));
}

TEST_F(OutputsTest, MissingParentIsNotFound) {
  const auto dir = OutputDir::create(in_parent("no/such/out"));
  EXPECT_EQ(dir.status().code(), StatusCode::kNotFound);
  EXPECT_NE(dir.status().message().find("parent directory"), std::string::npos);
  EXPECT_FALSE(OutputDir::create("").ok());
  EXPECT_FALSE(OutputDir::create(in_parent("..")).ok());
}

// A crashed job's temporary (dead pid, this host) is swept by the next create; a live
// process's is left alone.
TEST_F(OutputsTest, StaleTemporariesOfDeadProcessesAreRemoved) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is dead
  auto probe = OutputDir::create(in_parent("out"));
  ASSERT_TRUE(probe.ok());
  const std::string name = fs::path(probe->temp_path()).filename().string();
  const std::string prefix = name.substr(0, name.rfind('.', name.rfind('.') - 1) + 1);
  const std::string dead = prefix + std::to_string(child) + ".abcdef";
  const std::string alive = prefix + std::to_string(::getppid()) + ".abcdef";
  fs::create_directory(in_parent(dead));
  write_file(in_parent(dead) + "/scores.npy", "partial");
  fs::create_directory(in_parent(alive));

  auto next = OutputDir::create(in_parent("out"));
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(fs::exists(in_parent(dead)));
  EXPECT_TRUE(fs::exists(in_parent(alive)));
  EXPECT_TRUE(fs::exists(probe->temp_path()));  // this process's own temporaries stay
}

}  // namespace
}  // namespace ringmaster::io
