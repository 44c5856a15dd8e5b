#include "io/input.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
    const std::vector<int32_t> head(stream->ids().begin(), stream->ids().begin() + 6);
    EXPECT_EQ(head, (std::vector<int32_t>{5, 0, 1, 2, 3, 4}));
    const std::vector<int32_t> tail(stream->ids().end() - 5, stream->ids().end());
    EXPECT_EQ(tail, (std::vector<int32_t>{5, 2, 2, 2, 2}));
  }
}

TEST(ReadInput, BytesReadsRawText) {
  const std::string path = testing::TempDir() + "ringmaster_input.txt";
  std::ofstream(path, std::ios::binary) << "Hi\n";
  auto stream = read_input(path, Vocab::kBytes);
  ASSERT_TRUE(stream.ok()) << stream.status().to_string();
  const std::vector<int32_t> ids(stream->ids().begin(), stream->ids().end());
  EXPECT_EQ(ids, (std::vector<int32_t>{256, 'H', 'i', '\n'}));
  EXPECT_EQ(stream->records()[0].name, "ringmaster_input.txt");
  std::remove(path.c_str());
}

// --max-tokens: the read stops at the record that passes the cap, naming it; the cap counts
// input tokens (bases or bytes), not the <bos> of each record.
TEST(ReadInput, MaxTokensStopsAtTheRecordThatPassesIt) {
  const std::string path = kCorpus + "good_basic.fa";  // chr1: 20 bases, chr2: 4
  EXPECT_TRUE(read_input(path, Vocab::kDna, 24).ok());
  EXPECT_TRUE(read_input(path, Vocab::kDna, 0).ok());  // 0: no cap
  const auto over = read_input(path, Vocab::kDna, 23);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            path +
                ": record 2 ('chr2') brings the input to 24 tokens, more than the job's limit "
                "of 23 (--max-tokens)");
  const auto first = read_input(path, Vocab::kDna, 19);
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("record 1 ('chr1')"), std::string::npos);

  const std::string text = testing::TempDir() + "ringmaster_input_cap.txt";
  std::ofstream(text, std::ios::binary) << "Hello";
  EXPECT_TRUE(read_input(text, Vocab::kBytes, 5).ok());
  EXPECT_FALSE(read_input(text, Vocab::kBytes, 4).ok());
  std::remove(text.c_str());
}

TEST(ReadInput, ErrorsNameTheFileAndPlace) {
  const std::string path = kCorpus + "bad_digit.fa";
  const auto stream = read_input(path, Vocab::kDna);
  EXPECT_EQ(stream.status().message(), path + ":3:3: invalid residue '7'");
}

}  // namespace
}  // namespace ringmaster::io
