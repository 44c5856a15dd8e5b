// A variants job's branch results from the workers (coordinator/branch_results.h), and the
// ResultAssembler that takes them beside the score rows: each branch once, from the rank owning
// its record's position base - 1, with a finite log-likelihood; a refused chunk leaves no trace.
#include "coordinator/branch_results.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "coordinator/result_assembler.h"
#include "proto/convert.h"
#include "proto/validate.h"
#include "tests/testing/job_specs.h"

namespace ringmaster::coordinator {
namespace {

// 2 dna records, fed 10 and 6 tokens (16), 2 ranks, contiguous: rank 0 holds fed 0..7, rank 1
// fed 8..15. Branch 0 at record 0 base 3 (position 2: rank 0), branch 1 at record 0 base 10
// (position 9: rank 1), branch 2 at record 1 base 1 (fed 10: rank 1).
pb::JobSpec variants_job() {
  pb::JobSpec job = testing::model_job_request(2, pb::PLAN_CONTIGUOUS);
  pb::ModelJob& m = *job.mutable_model();
  m.set_task(pb::TASK_VARIANTS);
  m.set_variants_path("calls.vcf");
  m.set_downstream(4);
  m.set_d_model(8);
  m.set_num_blocks(1);
  for (const int64_t length : {10, 6}) m.add_record_lengths(length);
  for (const auto& [record, base] : {std::pair{0, 3}, {0, 10}, {1, 1}}) {
    pb::Branch* b = m.add_branches();
    b->set_record(record);
    b->set_base(base);
    b->set_tokens(std::string(1, '\x02'));
  }
  return job;
}

pb::ResultChunk branches(int rank, std::vector<std::pair<int, double>> results) {
  pb::ResultChunk c;
  c.set_rank(rank);
  for (const auto& [branch, ll] : results) {
    pb::BranchResult* r = c.add_branches();
    r->set_branch(branch);
    r->set_log_likelihood(ll);
  }
  return c;
}

BranchResults make_results(const pb::JobSpec& job) {
  StatusOr<comm::PartitionPlan> plan = proto::to_partition_plan(job);
  RM_CHECK(plan.ok()) << plan.status().to_string();
  return BranchResults(job, *plan);
}

TEST(BranchResults, StoresEachBranchFromItsOwner) {
  const pb::JobSpec job = variants_job();
  ASSERT_TRUE(proto::validate_job_spec(job).ok()) << proto::validate_job_spec(job).to_string();
  BranchResults results = make_results(job);
  ASSERT_TRUE(results.add(1, branches(1, {{2, -0.5}, {1, -3.0}})).ok());
  EXPECT_FALSE(results.complete());
  EXPECT_FALSE(results.check_done(0).ok());
  ASSERT_TRUE(results.add(0, branches(0, {{0, -1.25}})).ok());
  EXPECT_TRUE(results.complete());
  EXPECT_TRUE(results.check_done(0).ok());
  EXPECT_TRUE(results.check_done(1).ok());
  EXPECT_EQ(std::vector<double>(results.log_likelihoods().begin(), results.log_likelihoods().end()),
            (std::vector<double>{-1.25, -3.0, -0.5}));
}

TEST(BranchResults, RefusesWrongRankDuplicatesAndBadValues) {
  const pb::JobSpec job = variants_job();
  BranchResults results = make_results(job);
  Status wrong = results.add(0, branches(0, {{1, -1.0}}));
  EXPECT_NE(wrong.message().find("gives rank 1"), std::string::npos) << wrong.to_string();
  EXPECT_FALSE(results.add(1, branches(1, {{7, -1.0}})).ok());
  EXPECT_FALSE(results.add(1, branches(1, {{1, std::nan("")}})).ok());
  EXPECT_FALSE(results.add(1, branches(1, {{1, 0.5}})).ok());
  // A duplicate inside one chunk leaves no trace: branch 2 is not kept either.
  Status twice = results.add(1, branches(1, {{2, -1.0}, {2, -1.0}}));
  EXPECT_EQ(twice.code(), StatusCode::kDataLoss);
  EXPECT_EQ(results.received(1), 0);
  ASSERT_TRUE(results.add(1, branches(1, {{2, -1.0}})).ok());
  EXPECT_EQ(results.add(1, branches(1, {{2, -1.0}})).code(), StatusCode::kDataLoss);
}

TEST(BranchResults, AssemblerTakesRowsAndBranchesTogether) {
  const pb::JobSpec job = variants_job();
  StatusOr<ResultAssembler> assembler = ResultAssembler::make(job);
  ASSERT_TRUE(assembler.ok()) << assembler.status().to_string();
  // Score rows: 14 input tokens; the row of input index i comes from the owner of its
  // predecessor's fed index (i + record): rank 0 has rows 0..7, rank 1 rows 8..13.
  pb::ResultChunk rows0 = branches(0, {{0, -2.0}});
  std::vector<float> values(8, -0.5f);
  for (int i = 0; i < 8; ++i) rows0.add_tokens(i);
  rows0.set_rows(std::string(reinterpret_cast<const char*>(values.data()), 8 * sizeof(float)));
  ASSERT_TRUE(assembler->add(0, rows0).ok());
  // A chunk whose rows fail leaves its branches unstored.
  pb::ResultChunk bad = branches(1, {{1, -1.0}});
  bad.add_tokens(3);  // rank 0's row
  bad.set_rows(std::string(sizeof(float), '\0'));
  EXPECT_FALSE(assembler->add(1, bad).ok());
  EXPECT_EQ(assembler->branches()->received(1), 0);
  pb::ResultChunk rows1 = branches(1, {{1, -1.0}, {2, -4.0}});
  for (int i = 8; i < 14; ++i) rows1.add_tokens(i);
  rows1.set_rows(std::string(reinterpret_cast<const char*>(values.data()), 6 * sizeof(float)));
  ASSERT_TRUE(assembler->add(1, rows1).ok());
  EXPECT_TRUE(assembler->complete());
  pb::Done done;
  done.set_rows(6);  // rows only: branches are counted apart
  EXPECT_TRUE(assembler->check_done(1, done).ok());
  // A chunk of neither rows nor branches is refused.
  EXPECT_FALSE(assembler->add(1, branches(1, {})).ok());
}

TEST(BranchResults, ValidationRefusesBranchesOutsideTheirRecord) {
  pb::JobSpec job = variants_job();
  job.mutable_model()->mutable_branches(2)->set_base(7);  // record 1 has 6 fed tokens
  EXPECT_FALSE(proto::validate_job_spec(job).ok());
  job = variants_job();
  job.mutable_model()->mutable_branches(0)->set_tokens(std::string(1, '\x05'));  // <bos>
  EXPECT_FALSE(proto::validate_job_spec(job).ok());
  job = variants_job();
  job.mutable_model()->set_task(pb::TASK_SCORE);  // knobs of variants on another task
  EXPECT_FALSE(proto::validate_job_request(job).ok());
}

}  // namespace
}  // namespace ringmaster::coordinator
