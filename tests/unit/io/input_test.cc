#include "io/input.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "tests/unit/io/allocation_counter.h"

namespace ringmaster::io {
namespace {

const std::string kCorpus = std::string(RINGMASTER_SOURCE_DIR) + "/tests/data/fasta/";

TEST(ReadInput, DnaReadsFastaPlainOrGzip) {
  for (const char* name : {"good_basic.fa", "good_gzip.fa.gz"}) {
    auto stream = read_input(kCorpus + name, Vocab::kDna);
    ASSERT_TRUE(stream.ok()) << stream.status().to_string();
    EXPECT_EQ(stream->vocab(), Vocab::kDna);
    ASSERT_EQ(stream->num_records(), 2);
    EXPECT_EQ(stream->records()[0].name, "chr1");
    EXPECT_EQ(stream->records()[0].length, 20);
    EXPECT_EQ(stream->records()[1].name, "chr2");
    EXPECT_EQ(stream->records()[1].offset, 20);
    EXPECT_EQ(stream->records()[1].fed_begin, 21);
    EXPECT_EQ(stream->num_tokens(), 26);
    // chr1 starts <bos> A C G T N; chr2 is <bos> G G G G.
    std::vector<int32_t> head(6), tail(5);
    stream->fill_ids(0, head);
    EXPECT_EQ(head, (std::vector<int32_t>{5, 0, 1, 2, 3, 4}));
    stream->fill_ids(stream->num_tokens() - 5, tail);
    EXPECT_EQ(tail, (std::vector<int32_t>{5, 2, 2, 2, 2}));
  }
}

TEST(ReadInput, BytesReadsRawText) {
  const std::string path = testing::TempDir() + "ringmaster_input.txt";
  std::ofstream(path, std::ios::binary) << "Hi\n";
  auto stream = read_input(path, Vocab::kBytes);
  ASSERT_TRUE(stream.ok()) << stream.status().to_string();
  std::vector<int32_t> ids(static_cast<size_t>(stream->num_tokens()));
  stream->fill_ids(0, ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{256, 'H', 'i', '\n'}));
  EXPECT_EQ(stream->records()[0].name, "ringmaster_input.txt");
  std::remove(path.c_str());
}

// --max-tokens: the read stops at the first base past the cap, naming the record and the place;
// the cap counts input tokens (bases or bytes), not the <bos> of each record.
TEST(ReadInput, MaxTokensStopsAtTheRecordThatPassesIt) {
  const std::string path = kCorpus + "good_basic.fa";  // chr1: 20 bases, chr2: 4
  EXPECT_TRUE(read_input(path, Vocab::kDna, 24).ok());
  EXPECT_TRUE(read_input(path, Vocab::kDna, 0).ok());  // 0: no cap
  const auto over = read_input(path, Vocab::kDna, 23);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            path + ":5:4: record 2 ('chr2') passes the job's limit of 23 tokens (--max-tokens)");
  const auto first = read_input(path, Vocab::kDna, 19);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message(),
            path + ":3:10: record 1 ('chr1') passes the job's limit of 19 tokens (--max-tokens)");

  const std::string text = testing::TempDir() + "ringmaster_input_cap.txt";
  std::ofstream(text, std::ios::binary) << "Hello";
  EXPECT_TRUE(read_input(text, Vocab::kBytes, 5).ok());
  EXPECT_FALSE(read_input(text, Vocab::kBytes, 4).ok());
  std::remove(text.c_str());
}

// RELIABILITY.md S10: reading a plain input allocates at most twice its size (the stream, one
// byte per token, and the record being read), plus the reader's buffer of at most 1 MiB and
// each record's place (16 bytes and its name, up to 3x that while the vectors double). Operator new
// is counted (allocation_counter.h), capacity included.
TEST(ReadInputLimits, AllocatesAtMostTwiceThePlainFileSize) {
  const std::string dir = testing::TempDir();
  std::string one_record = ">chr\n", many_records;
  for (int line = 0; line < (8 << 20) / 60; ++line)
    one_record += std::string(60, "ACGT"[line % 4]) + "\n";
  for (int record = 0; record < 4096; ++record) {
    many_records += ">r" + std::to_string(record) + "\n" + std::string(2000, 'G') + "\n";
  }
  struct Case {
    const char* name;
    const std::string* bytes;
    Vocab vocab;
    int64_t records;
  };
  for (const Case& c : {Case{"one.fa", &one_record, Vocab::kDna, 1},
                        Case{"many.fa", &many_records, Vocab::kDna, 4096},
                        Case{"one.txt", &one_record, Vocab::kBytes, 1}}) {
    const std::string path = dir + "ringmaster_s10_" + c.name;
    std::ofstream(path, std::ios::binary) << *c.bytes;
    const int64_t size = static_cast<int64_t>(c.bytes->size());
    const int64_t before = heap_counter::live_heap_bytes();
    heap_counter::reset_peak_heap_bytes();
    {
      auto stream = read_input(path, c.vocab);
      ASSERT_TRUE(stream.ok()) << stream.status().to_string();
    }
    const int64_t peak = heap_counter::peak_heap_bytes() - before;
    EXPECT_GT(peak, size) << c.name;  // the counter counts
    EXPECT_LE(peak, 2 * size + (1 << 20) + 64 * c.records + (64 << 10))
        << c.name << ": " << size << " bytes";
    std::remove(path.c_str());
  }
}

// Issue 14 §3 (S10): a FASTA of 2^20 one-base records (">a\nA\n", 5 bytes each). Each record's
// place costs 16 bytes and its name's bytes (io/record_table.h), up to twice that while a vector
// doubles. Before, 56 bytes a record (a std::string and three int64s) in a doubling vector held
// 64 MB after the read and peaked at 100 MB, 12 and 19 times the 5 MiB file.
TEST(ReadInputLimits, TinyRecordsCostSixteenBytesEachAndTheirNames) {
  constexpr int64_t kRecords = int64_t{1} << 20;
  std::string tiny;
  for (int64_t r = 0; r < kRecords; ++r) tiny += ">a\nA\n";
  const std::string path = testing::TempDir() + "ringmaster_s10_tiny.fa";
  std::ofstream(path, std::ios::binary) << tiny;
  const auto size = static_cast<int64_t>(tiny.size());
  const int64_t before = heap_counter::live_heap_bytes();
  heap_counter::reset_peak_heap_bytes();
  int64_t live = 0;
  {
    auto stream = read_input(path, Vocab::kDna);
    ASSERT_TRUE(stream.ok()) << stream.status().to_string();
    EXPECT_EQ(stream->num_records(), kRecords);
    EXPECT_EQ(stream->records()[kRecords - 1].name, "a");
    live = heap_counter::live_heap_bytes() - before;
  }
  const int64_t peak = heap_counter::peak_heap_bytes() - before;
  std::printf(
      "[ memory ] %lld records, %lld-byte file: %lld bytes held after the read, %lld at "
      "the peak (reserves included)\n",
      static_cast<long long>(kRecords), static_cast<long long>(size), static_cast<long long>(live),
      static_cast<long long>(peak));
  EXPECT_LE(peak, 2 * size + (1 << 20) + 2 * (16 + 1) * kRecords + (64 << 10));
  std::remove(path.c_str());
}

TEST(ReadInput, ErrorsNameTheFileAndPlace) {
  const std::string path = kCorpus + "bad_digit.fa";
  const auto stream = read_input(path, Vocab::kDna);
  EXPECT_EQ(stream.status().message(), path + ":3:3: invalid residue '7'");
}

}  // namespace
}  // namespace ringmaster::io
