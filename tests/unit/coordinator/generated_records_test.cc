// A generate job's results from the workers: each record from the rank owning its tail, once,
// with regular ids, at most max_new_tokens of them and the stop MODEL.md allows; nothing else
// reaches the output, and a refused chunk leaves no trace.
#include "coordinator/generated_records.h"

#include <gtest/gtest.h>

#include <limits>

#include "coordinator/result_assembler.h"
#include "proto/convert.h"
#include "tests/testing/job_specs.h"

namespace ringmaster::coordinator {
namespace {

// 3 dna records of 9, 3 and 5 prompt tokens (fed 10, 4, 6: 20 tokens), 2 ranks, contiguous:
// rank 0 holds fed 0..9 (record 0), rank 1 fed 10..19 (records 1 and 2); max_new_tokens 4.
pb::JobSpec generate_job(bool ignore_eos = false) {
  pb::JobSpec job = testing::model_job_request(2, pb::PLAN_CONTIGUOUS);
  pb::ModelJob& m = *job.mutable_model();
  m.set_task(pb::TASK_GENERATE);
  m.set_max_new_tokens(4);
  m.set_ignore_eos(ignore_eos);
  m.set_d_model(8);
  m.set_num_blocks(1);
  for (const int64_t length : {10, 4, 6}) m.add_record_lengths(length);
  return job;
}

GeneratedRecords make_records(const pb::JobSpec& job) {
  StatusOr<comm::PartitionPlan> plan = proto::to_partition_plan(job);
  RM_CHECK(plan.ok()) << plan.status().to_string();
  return GeneratedRecords(job, *plan, io::Vocab::kDna);
}

pb::GeneratedRecord record(int32_t index, std::vector<int32_t> tokens, bool eos,
                           double log_likelihood = -1.5) {
  pb::GeneratedRecord r;
  r.set_record(index);
  for (const int32_t t : tokens) r.add_tokens(t);
  r.set_eos(eos);
  r.set_log_likelihood(log_likelihood);
  return r;
}

pb::ResultChunk chunk(int rank, std::vector<pb::GeneratedRecord> records) {
  pb::ResultChunk c;
  c.set_rank(rank);
  for (pb::GeneratedRecord& r : records) *c.add_generated() = std::move(r);
  return c;
}

TEST(GeneratedRecords, StoresEachRecordFromItsTailOwner) {
  const pb::JobSpec job = generate_job();
  GeneratedRecords records = make_records(job);
  ASSERT_TRUE(records.add(1, chunk(1, {record(2, {4, 0, 1, 2}, false)})).ok());
  ASSERT_TRUE(records.add(0, chunk(0, {record(0, {3}, true, -0.25)})).ok());
  EXPECT_FALSE(records.complete());
  EXPECT_TRUE(records.check_done(0, 1, 0.5, 2.0).ok());
  EXPECT_FALSE(records.check_done(1, 2, 0.5, 2.0).ok());  // record 1 still missing
  ASSERT_TRUE(records.add(1, chunk(1, {record(1, {}, true, -0.0)})).ok());  // <eos> at once
  EXPECT_TRUE(records.check_done(1, 2, 0.75, 1.0).ok());
  ASSERT_TRUE(records.complete());
  ASSERT_EQ(records.records().size(), 3u);
  EXPECT_EQ(records.records()[0].tokens, std::vector<int32_t>{3});
  EXPECT_TRUE(records.records()[0].eos);
  EXPECT_EQ(records.records()[0].log_likelihood, -0.25);
  EXPECT_TRUE(records.records()[1].tokens.empty());
  EXPECT_EQ(records.records()[2].tokens, (std::vector<int32_t>{4, 0, 1, 2}));
  EXPECT_FALSE(records.records()[2].eos);
  // The slowest rank's times.
  EXPECT_EQ(records.prefill_s(), 0.75);
  EXPECT_EQ(records.decode_s(), 2.0);
}

TEST(GeneratedRecords, RefusesWhatTheJobDoesNotAllow) {
  GeneratedRecords records = make_records(generate_job());
  auto refused = [&](int rank, pb::ResultChunk c, const std::string& words) {
    const Status status = records.add(rank, c);
    ASSERT_FALSE(status.ok()) << words;
    EXPECT_NE(status.message().find(words), std::string::npos) << status.to_string();
  };
  refused(0, chunk(1, {record(0, {1}, true)}), "claiming rank 1");
  refused(0, chunk(0, {record(3, {1}, true)}), "record 3 outside [0, 3)");
  refused(0, chunk(0, {record(-1, {1}, true)}), "outside [0, 3)");
  refused(0, chunk(0, {record(1, {1}, true)}), "the plan gives rank 1");  // record 1 is rank 1's
  // Ids of <bos> (5), <eos> (6), <pad> (7), beyond V, and negative are not generated tokens.
  for (const int32_t bad : {5, 6, 7, 8, -1, 300}) {
    refused(0, chunk(0, {record(0, {0, bad}, true)}),
            "token " + std::to_string(bad) + " at step 1");
  }
  refused(0, chunk(0, {record(0, {0, 1, 2, 3, 0}, false)}), "5 tokens, more than");
  refused(0, chunk(0, {record(0, {0, 1, 2}, false)}), "stopping at length after 3 tokens");
  refused(0, chunk(0, {record(0, {0, 1, 2, 3}, true)}), "stopping at <eos> after 4 tokens");
  refused(0, chunk(0, {record(0, {1}, true, std::numeric_limits<double>::quiet_NaN())}),
          "non-finite log_likelihood");
  refused(0, chunk(0, {record(0, {1}, true, 0.5)}), "not a log-probability");
  refused(0, pb::ResultChunk(), "has 0 records");
  pb::ResultChunk with_rows = chunk(0, {record(0, {1}, true)});
  with_rows.add_tokens(3);
  refused(0, with_rows, "tokens");
  // Twice inside one chunk: refused, and the first copy leaves no trace.
  refused(1, chunk(1, {record(1, {1}, true), record(1, {1}, true)}), "record 1 twice");
  EXPECT_EQ(records.records_received(0) + records.records_received(1), 0);
  ASSERT_TRUE(records.add(0, chunk(0, {record(0, {2}, true)})).ok());
  const Status again = records.add(0, chunk(0, {record(0, {2}, true)}));
  EXPECT_EQ(again.code(), StatusCode::kDataLoss) << again.to_string();
  // The Done's count and times are not trusted either.
  EXPECT_FALSE(records.check_done(0, 2, 0, 0).ok());
  EXPECT_FALSE(records.check_done(0, 1, -1, 0).ok());
  EXPECT_FALSE(records.check_done(0, 1, 0, std::numeric_limits<double>::infinity()).ok());
  EXPECT_TRUE(records.check_done(0, 1, 0, 0).ok());
}

TEST(GeneratedRecords, IgnoreEosMeansEveryRecordRunsToLength) {
  GeneratedRecords records = make_records(generate_job(/*ignore_eos=*/true));
  EXPECT_FALSE(records.add(0, chunk(0, {record(0, {1}, true)})).ok());
  EXPECT_TRUE(records.add(0, chunk(0, {record(0, {1, 1, 1, 1}, false)})).ok());
}

// Through the ResultAssembler, as the JobRunner uses it: Done carries the records and times,
// and a restarted attempt's clear() forgets the first attempt's records.
TEST(GeneratedRecords, TheAssemblerRoutesAGenerateJob) {
  const pb::JobSpec job = generate_job();
  EXPECT_FALSE(ResultAssembler::make(job).ok());  // a generate job needs the vocabulary
  StatusOr<ResultAssembler> a = ResultAssembler::make(job, io::Vocab::kDna);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_NE(a->generated(), nullptr);
  EXPECT_FALSE(a->complete());
  ASSERT_TRUE(a->add(0, chunk(0, {record(0, {1}, true)})).ok());
  a->clear();
  EXPECT_EQ(a->rows_received(0), 0);
  ASSERT_TRUE(a->add(0, chunk(0, {record(0, {2, 2, 2, 2}, false)})).ok());
  ASSERT_TRUE(a->add(1, chunk(1, {record(1, {0}, true), record(2, {}, true)})).ok());
  pb::Done done;
  done.set_rank(1);
  done.set_rows(2);
  done.set_prefill_s(0.25);
  done.set_decode_s(3);
  EXPECT_TRUE(a->check_done(1, done).ok());
  EXPECT_TRUE(a->complete());
  EXPECT_EQ(a->generated()->decode_s(), 3.0);
  EXPECT_EQ(a->generated()->records()[0].tokens, (std::vector<int32_t>{2, 2, 2, 2}));
  // Rows belong to other jobs.
  pb::ResultChunk rows;
  rows.set_rank(0);
  rows.add_tokens(0);
  rows.set_rows(std::string(4, '\0'));
  EXPECT_FALSE(a->add(0, rows).ok());
}

}  // namespace
}  // namespace ringmaster::coordinator
