// The attention check's output: the .npy and its summary appear together, or neither does.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "coordinator/job_output.h"
#include "io/outputs.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::coordinator {
namespace {

io::JobSummary summary_of_check() {
  io::JobSummary summary;
  summary.task = "check";
  summary.plan = "zigzag";
  summary.workers = 2;
  summary.records = 1;
  summary.tokens = 4;
  summary.input_tokens = 4;
  return summary;
}

TEST(CheckSummaryPath, ReplacesTheNpyExtension) {
  EXPECT_EQ(io::check_summary_path("/d/out.npy"), "/d/out.summary.json");
  EXPECT_EQ(io::check_summary_path("run"), "run.summary.json");
  EXPECT_EQ(io::check_summary_path(".npy"), ".npy.summary.json");
}

TEST(NpyOutput, WritesTheRowsAndTheSummaryTogether) {
  testing::TempDir dir;
  const std::string path = dir.file("out.npy");
  std::unique_ptr<JobOutput> output = make_npy_output(path, summary_of_check());
  Tensor rows = Tensor::empty({4, 1, 2}, DType::kF32);
  RunFacts facts;
  facts.wall_time_s = 2;
  ASSERT_TRUE(output->write(rows, facts).ok());
  // Written, not committed: only partial (dot-named) files.
  for (const std::string& name : dir.entries()) EXPECT_EQ(name.front(), '.') << name;
  ASSERT_TRUE(output->commit().ok());
  std::vector<std::string> entries = dir.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"out.npy", "out.summary.json"}));
  std::ifstream in(dir.file("out.summary.json"));
  const nlohmann::json summary = nlohmann::json::parse(in);
  EXPECT_EQ(summary["task"], "check");
  EXPECT_EQ(summary["wall_time_s"], 2.0);
  EXPECT_EQ(summary["tokens_per_s"], 2.0);
}

// The rows cannot be renamed into place (a non-empty folder holds their name): the summary,
// renamed first, is removed again, and nothing of the job is left.
TEST(NpyOutput, AFailedCommitLeavesNeitherFile) {
  testing::TempDir dir;
  const std::string path = dir.file("out.npy");
  std::filesystem::create_directory(path);
  std::ofstream(path + "/keep") << "x";
  std::unique_ptr<JobOutput> output = make_npy_output(path, summary_of_check());
  ASSERT_TRUE(output->write(Tensor::empty({4, 1, 2}, DType::kF32), RunFacts{}).ok());
  EXPECT_FALSE(output->commit().ok());
  output.reset();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.npy"});  // the folder, untouched
  EXPECT_TRUE(std::filesystem::exists(path + "/keep"));
}

}  // namespace
}  // namespace ringmaster::coordinator
