#include "coordinator/result_assembler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

#include "io/npy.h"
#include "proto/convert.h"
#include "tests/testing/job_specs.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::coordinator {
namespace {

// 10 tokens, 1 head of dim 2 (rows of 8 bytes), 2 ranks, contiguous: rank 0 has 0..4.
pb::JobSpec small_job() {
  pb::JobSpec job = ringmaster::testing::check_job_spec(2, 10);
  job.set_result_chunk_bytes(64);
  return job;
}

pb::ResultChunk chunk(int rank, std::vector<int64_t> tokens) {
  pb::ResultChunk c;
  c.set_rank(rank);
  std::vector<float> rows;
  for (int64_t t : tokens) {
    c.add_tokens(t);
    rows.push_back(static_cast<float>(t));
    rows.push_back(static_cast<float>(-t));
  }
  c.set_rows(reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(float));
  return c;
}

TEST(ResultAssembler, PlacesRowsAtTheirGlobalIndex) {
  StatusOr<ResultAssembler> a = ResultAssembler::make(small_job());
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(a->add(1, chunk(1, {7, 5, 9})).ok());
  ASSERT_TRUE(a->add(0, chunk(0, {0, 1, 2, 3, 4})).ok());
  EXPECT_TRUE(a->check_done(0, 5).ok());
  EXPECT_FALSE(a->check_done(1, 5).ok());  // rank 1 still owes 6 and 8
  EXPECT_FALSE(a->complete());
  ASSERT_TRUE(a->add(1, chunk(1, {6, 8})).ok());
  EXPECT_TRUE(a->check_done(1, 5).ok());
  ASSERT_TRUE(a->complete());
  const float* out = a->output().data<float>();
  for (int t = 0; t < 10; ++t) {
    EXPECT_EQ(out[2 * t], static_cast<float>(t));
    EXPECT_EQ(out[2 * t + 1], static_cast<float>(-t));
  }
}

// A restarted attempt sends every row again: clear() forgets the first attempt's.
TEST(ResultAssembler, ClearForgetsEveryRow) {
  StatusOr<ResultAssembler> a = ResultAssembler::make(small_job());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->add(0, chunk(0, {0, 1, 2, 3, 4})).ok());
  ASSERT_TRUE(a->add(1, chunk(1, {5, 6})).ok());
  a->clear();
  EXPECT_EQ(a->rows_received(0), 0);
  EXPECT_FALSE(a->check_done(0, 5).ok());
  ASSERT_TRUE(a->add(0, chunk(0, {0, 1, 2, 3, 4})).ok());  // no longer duplicates
  ASSERT_TRUE(a->add(1, chunk(1, {5, 6, 7, 8, 9})).ok());
  EXPECT_TRUE(a->complete());
}

TEST(ResultAssembler, RefusesWhatThePlanDoesNotAllow) {
  StatusOr<ResultAssembler> a = ResultAssembler::make(small_job());
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->add(0, chunk(1, {0})).ok());        // claims another rank
  EXPECT_FALSE(a->add(0, chunk(0, {5})).ok());        // rank 1's token
  EXPECT_FALSE(a->add(0, chunk(0, {10})).ok());       // outside the sequence
  EXPECT_FALSE(a->add(0, chunk(0, {-1})).ok());       // negative
  EXPECT_FALSE(a->add(0, chunk(0, {1, 2, 1})).ok());  // duplicate inside one chunk
  pb::ResultChunk short_rows = chunk(0, {3});
  short_rows.mutable_rows()->pop_back();
  EXPECT_FALSE(a->add(0, short_rows).ok());
  // None of the refused chunks left a trace: all of rank 0's tokens are still accepted once.
  ASSERT_TRUE(a->add(0, chunk(0, {0, 1, 2, 3, 4})).ok());
  EXPECT_EQ(a->rows_received(0), 5);
  EXPECT_EQ(a->add(0, chunk(0, {2})).code(), StatusCode::kDataLoss);  // sent twice
}

// NaN and infinity are refused, naming the rank, the row and the element; the chunk leaves no
// trace, so the job fails and nothing is written.
TEST(ResultAssembler, RefusesNonFiniteRows) {
  StatusOr<ResultAssembler> a = ResultAssembler::make(small_job());
  ASSERT_TRUE(a.ok());
  struct Case {
    float value;
    const char* what;
  };
  for (const Case& c : {Case{std::numeric_limits<float>::quiet_NaN(), "NaN"},
                        Case{-std::numeric_limits<float>::quiet_NaN(), "NaN"},
                        Case{std::numeric_limits<float>::infinity(), "+inf"},
                        Case{-std::numeric_limits<float>::infinity(), "-inf"}}) {
    pb::ResultChunk bad = chunk(1, {5, 7, 9});
    float* rows = reinterpret_cast<float*>(bad.mutable_rows()->data());
    rows[3] = c.value;  // row 7, element 1
    const Status status = a->add(1, bad);
    EXPECT_EQ(status.code(), StatusCode::kDataLoss);
    EXPECT_EQ(status.message(), std::string("rank 1 sent row 7 holding ") + c.what +
                                    " at element 1 of 2; non-finite results are refused");
  }
  EXPECT_EQ(a->rows_received(1), 0);
  // The largest finite values and subnormals pass; the refused rows can still arrive once.
  pb::ResultChunk edge = chunk(1, {5, 6, 7, 8, 9});
  float* rows = reinterpret_cast<float*>(edge.mutable_rows()->data());
  rows[0] = std::numeric_limits<float>::max();
  rows[1] = -std::numeric_limits<float>::max();
  rows[2] = std::numeric_limits<float>::denorm_min();
  EXPECT_TRUE(a->add(1, edge).ok());
  EXPECT_EQ(a->rows_received(1), 5);
}

TEST(WriteNpyAtomically, WritesTheWholeFileOrNothing) {
  const testing::TempDir temp;
  const std::filesystem::path& dir = temp.path();
  Tensor t = Tensor::empty({3, 2}, DType::kF32);
  for (int i = 0; i < 6; ++i) t.data<float>()[i] = static_cast<float>(i);
  const std::string path = (dir / "out.npy").string();
  ASSERT_TRUE(write_npy_atomically(path, t).ok());
  StatusOr<io::NpyArray> back = io::read_npy(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->shape, (Shape{3, 2}));
  // Only the output: the partial file was renamed, not copied.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            1);
  // A directory that does not exist: an error, and nothing is created.
  EXPECT_FALSE(write_npy_atomically((dir / "missing" / "out.npy").string(), t).ok());
}

}  // namespace
}  // namespace ringmaster::coordinator
