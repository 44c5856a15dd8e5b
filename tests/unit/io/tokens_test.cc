#include "io/tokens.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ringmaster::io {
namespace {

TEST(Vocab, MatchesTheModelTable) {
  EXPECT_EQ(vocab_size(Vocab::kDna), 8);
  EXPECT_EQ(bos_id(Vocab::kDna), 5);
  EXPECT_EQ(eos_id(Vocab::kDna), 6);
  EXPECT_EQ(pad_id(Vocab::kDna), 7);
  EXPECT_EQ((std::vector<int32_t>{kDnaA, kDnaC, kDnaG, kDnaT, kDnaN}),
            (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(vocab_size(Vocab::kBytes), 259);
  EXPECT_EQ(bos_id(Vocab::kBytes), 256);
  EXPECT_EQ(eos_id(Vocab::kBytes), 257);
  EXPECT_EQ(pad_id(Vocab::kBytes), 258);
}

TEST(Vocab, ParsesConfigNames) {
  EXPECT_EQ(*parse_vocab("dna"), Vocab::kDna);
  EXPECT_EQ(*parse_vocab("bytes"), Vocab::kBytes);
  EXPECT_STREQ(vocab_name(Vocab::kDna), "dna");
  EXPECT_STREQ(vocab_name(Vocab::kBytes), "bytes");
  const auto bad = parse_vocab("DNA");
  EXPECT_EQ(bad.status().message(), "unknown vocab 'DNA' (expected dna or bytes)");
}

TokenStream three_records() {
  TokenStream stream(Vocab::kDna);
  const std::vector<uint8_t> a = {0, 1, 2}, b = {4}, c = {3, 3};
  RM_CHECK(stream.append("a", a).ok());
  RM_CHECK(stream.append("b", b).ok());
  RM_CHECK(stream.append("a", c).ok());  // names may repeat
  return stream;
}

TEST(TokenStream, FeedsBosThenTokensPerRecord) {
  const TokenStream stream = three_records();
  std::vector<int32_t> ids(9);
  stream.fill_ids(0, ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{5, 0, 1, 2, 5, 4, 5, 3, 3}));
  // One byte per input token: <bos> is derived, not stored.
  const std::vector<uint8_t> input(stream.input_ids().begin(), stream.input_ids().end());
  EXPECT_EQ(input, (std::vector<uint8_t>{0, 1, 2, 4, 3, 3}));
  EXPECT_EQ(stream.num_tokens(), 9);
  EXPECT_EQ(stream.num_input_tokens(), 6);
  EXPECT_EQ(stream.num_records(), 3);
  const auto& r = stream.records();
  // records.tsv offsets count input tokens only: 0, 3, 4.
  EXPECT_EQ(r[0].name, "a");
  EXPECT_EQ(r[0].fed_begin, 0);
  EXPECT_EQ(r[0].offset, 0);
  EXPECT_EQ(r[0].length, 3);
  EXPECT_EQ(r[0].fed_end(), 4);
  EXPECT_EQ(r[1].fed_begin, 4);
  EXPECT_EQ(r[1].offset, 3);
  EXPECT_EQ(r[1].length, 1);
  EXPECT_EQ(r[2].name, "a");
  EXPECT_EQ(r[2].fed_begin, 6);
  EXPECT_EQ(r[2].offset, 4);
  EXPECT_EQ(r[2].length, 2);
}

// Every range of the stream against ids, positions and record ids written out by hand.
TEST(TokenStream, FillsIdsPositionsAndRecordIdsForAnyRange) {
  const TokenStream stream = three_records();
  const std::vector<int32_t> fed = {5, 0, 1, 2, 5, 4, 5, 3, 3};
  const std::vector<int32_t> positions = {0, 1, 2, 3, 0, 1, 0, 1, 2};
  const std::vector<int32_t> records = {0, 0, 0, 0, 1, 1, 2, 2, 2};
  for (int64_t begin = 0; begin <= stream.num_tokens(); ++begin) {
    for (int64_t count = 0; begin + count <= stream.num_tokens(); ++count) {
      std::vector<int32_t> pos(static_cast<size_t>(count), -1), rec(static_cast<size_t>(count), -1);
      std::vector<int32_t> ids(static_cast<size_t>(count), -1);
      stream.fill_ids(begin, ids);
      stream.fill_positions(begin, pos);
      stream.fill_record_ids(begin, rec);
      EXPECT_EQ(ids, std::vector<int32_t>(fed.begin() + begin, fed.begin() + begin + count));
      EXPECT_EQ(pos,
                std::vector<int32_t>(positions.begin() + begin, positions.begin() + begin + count));
      EXPECT_EQ(rec,
                std::vector<int32_t>(records.begin() + begin, records.begin() + begin + count));
    }
  }
  for (int64_t i = 0; i < stream.num_tokens(); ++i) {
    EXPECT_EQ(stream.record_at(i), records[static_cast<size_t>(i)]);
  }
}

TEST(TokenStream, LargeStreamPositionsRestartAtEachBos) {
  TokenStream stream(Vocab::kBytes);
  std::vector<uint8_t> ids(1 << 20);
  std::iota(ids.begin(), ids.end(), uint8_t{0});
  ASSERT_TRUE(stream.append("big", ids).ok());
  ASSERT_TRUE(stream.append("tail", std::vector<uint8_t>{255, 0}).ok());
  EXPECT_EQ(stream.num_tokens(), (1 << 20) + 4);
  std::vector<int32_t> pos(6);
  stream.fill_positions((1 << 20) - 2, pos);
  EXPECT_EQ(pos, (std::vector<int32_t>{(1 << 20) - 2, (1 << 20) - 1, 1 << 20, 0, 1, 2}));
  std::vector<int32_t> fed(3);
  stream.fill_ids((1 << 20) + 1, fed);
  EXPECT_EQ(fed, (std::vector<int32_t>{256, 255, 0}));  // <bos> of "tail", then its bytes
}

TEST(TokenStream, RejectsEmptyRecordsAndForeignIds) {
  TokenStream stream(Vocab::kDna);
  EXPECT_EQ(stream.append("e", {}).message(), "record 'e' has no tokens");
  const std::vector<uint8_t> bad = {0, 4, 5};
  const Status status = stream.append("x", bad);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "record 'x': token id 5 at index 2 is not a regular dna id");
  EXPECT_EQ(stream.num_tokens(), 0);  // nothing half-appended
  EXPECT_EQ(stream.num_records(), 0);

  TokenStream bytes(Vocab::kBytes);
  std::vector<uint8_t> all(256);
  std::iota(all.begin(), all.end(), uint8_t{0});
  EXPECT_TRUE(bytes.append("all", all).ok());
}

}  // namespace
}  // namespace ringmaster::io
