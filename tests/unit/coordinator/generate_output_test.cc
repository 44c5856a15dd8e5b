// A generate job's output directory through the coordinator's writer (make_generate_output) with
// a fake result: generated.fa wrapped at 80 bases, generated.txt, records.tsv and summary.json
// with the decode times; nothing appears before commit, and nothing stays without it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coordinator/job_output.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::coordinator {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Prompt {
  std::string name;
  int64_t length;
};

io::Generation generation(std::vector<int32_t> tokens, double log_likelihood, bool eos) {
  return io::Generation{std::move(tokens), log_likelihood, eos};
}

GenerateOutputSpec spec_for(const std::string& dir, io::Vocab vocab,
                            const std::vector<Prompt>& prompts) {
  GenerateOutputSpec spec;
  spec.dir = dir;
  spec.vocab = vocab;
  for (const Prompt& p : prompts) spec.records.append(p.name, p.length);
  // std::string(...): GCC 12 warns falsely (-Wrestrict) about assigning a literal here.
  spec.summary.model = std::string("m");
  spec.summary.input = std::string("in.fa");
  spec.summary.task = std::string("generate");
  spec.summary.vocab = io::vocab_name(vocab);
  spec.summary.plan = std::string("zigzag");
  spec.summary.workers = 2;
  spec.summary.records = static_cast<int64_t>(spec.records.size());
  return spec;
}

TEST(GenerateOutput, DnaWritesWrappedFastaRecordsAndSummary) {
  const testing::TempDir temp;
  const std::string dir = temp.file("out");
  StatusOr<std::unique_ptr<JobOutput>> output = make_generate_output(
      spec_for(dir, io::Vocab::kDna, {{"chr1", 300}, {"short", 7}, {"x", 81}}));
  ASSERT_TRUE(output.ok()) << output.status().to_string();
  // 170 bases: two lines of 80 and one of 10; nothing for "short"; exactly 80 for "x".
  std::vector<int32_t> long_tokens(170);
  for (size_t i = 0; i < long_tokens.size(); ++i) long_tokens[i] = static_cast<int32_t>(i % 5);
  const std::vector<io::Generation> generated = {generation(long_tokens, -200.5, false),
                                                 generation({}, -0.125, true),
                                                 generation(std::vector<int32_t>(80, 3), -9, true)};
  RunFacts facts;
  facts.wall_time_s = 4;
  facts.generated = generated;
  facts.prefill_s = 1.5;
  facts.decode_s = 2.0;
  facts.worker_peaks = {io::WorkerPeak{0, "h", 100, -1}, io::WorkerPeak{1, "h", 200, -1}};
  ASSERT_TRUE((*output)->write(Tensor(), facts).ok());
  EXPECT_FALSE(std::filesystem::exists(dir)) << "visible before commit";
  ASSERT_TRUE((*output)->commit().ok());

  std::string bases;
  for (int i = 0; i < 170; ++i) bases += "ACGTN"[i % 5];
  EXPECT_EQ(read_file(dir + "/generated.fa"), ">chr1\n" + bases.substr(0, 80) + "\n" +
                                                  bases.substr(80, 80) + "\n" + bases.substr(160) +
                                                  "\n>short\n>x\n" + std::string(80, 'T') + "\n");
  EXPECT_EQ(read_file(dir + "/records.tsv"),
            "name\tprompt_length\tgenerated\tstop\tlog_likelihood_nats\n"
            "chr1\t300\t170\tlength\t-200.5\n"
            "short\t7\t0\teos\t-0.125\n"
            "x\t81\t80\teos\t-9\n");
  const nlohmann::json summary = nlohmann::json::parse(read_file(dir + "/summary.json"));
  EXPECT_EQ(summary["task"], "generate");
  EXPECT_EQ(summary["generated_tokens"], 250);
  EXPECT_EQ(summary["prefill_s"], 1.5);
  EXPECT_EQ(summary["decode_s"], 2.0);
  EXPECT_EQ(summary["decode_tokens_per_s"], 125.0);
  EXPECT_EQ(summary["wall_time_s"], 4.0);
  EXPECT_EQ(summary["peak_memory"].size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/generated.txt"));
}

TEST(GenerateOutput, BytesWritesTheGeneratedBytes) {
  const testing::TempDir temp;
  const std::string dir = temp.file("out");
  StatusOr<std::unique_ptr<JobOutput>> output =
      make_generate_output(spec_for(dir, io::Vocab::kBytes, {{"notes.txt", 12}}));
  ASSERT_TRUE(output.ok()) << output.status().to_string();
  const std::vector<io::Generation> generated = {generation({'h', 'i', 0, '\n', 255}, -3, false)};
  RunFacts facts;
  facts.generated = generated;  // decode_s 0: no rate
  ASSERT_TRUE((*output)->write(Tensor(), facts).ok());
  ASSERT_TRUE((*output)->commit().ok());
  EXPECT_EQ(read_file(dir + "/generated.txt"), std::string("hi\0\n\xff", 5));
  EXPECT_FALSE(std::filesystem::exists(dir + "/generated.fa"));
  EXPECT_EQ(read_file(dir + "/records.tsv"),
            "name\tprompt_length\tgenerated\tstop\tlog_likelihood_nats\n"
            "notes.txt\t12\t5\tlength\t-3\n");
  const nlohmann::json summary = nlohmann::json::parse(read_file(dir + "/summary.json"));
  EXPECT_TRUE(summary["decode_tokens_per_s"].is_null());
}

// A failed job never commits: dropping the output leaves nothing at all beside DIR, and a
// result that does not match the records is refused.
TEST(GenerateOutput, UncommittedLeavesNothing) {
  const testing::TempDir temp;
  const std::string dir = temp.file("out");
  {
    StatusOr<std::unique_ptr<JobOutput>> output =
        make_generate_output(spec_for(dir, io::Vocab::kDna, {{"a", 3}, {"b", 4}}));
    ASSERT_TRUE(output.ok());
    RunFacts facts;
    const std::vector<io::Generation> one = {generation({1}, -1, true)};
    facts.generated = one;
    EXPECT_FALSE((*output)->write(Tensor(), facts).ok());
    const std::vector<io::Generation> two = {generation({1}, -1, true), generation({}, 0, true)};
    facts.generated = two;
    EXPECT_TRUE((*output)->write(Tensor(), facts).ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(temp.path()));
}

}  // namespace
}  // namespace ringmaster::coordinator
