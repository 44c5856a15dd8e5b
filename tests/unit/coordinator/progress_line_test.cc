// The progress line: work counted in token-blocks, per-rank block counts, rate and ETA, and the
// plain mode's one line per block that every rank has finished.
#include "coordinator/progress_line.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace ringmaster::coordinator {
namespace {

TEST(ProgressLine, CountsTokenBlocksAcrossRanks) {
  ProgressLine line(ProgressMode::kNone, {3000, 1000}, 4);
  EXPECT_EQ(line.render(0), "progress 0% | blocks r0 0/4 r1 0/4");
  line.update(0, 2);  // 6000 of 16000 token-blocks
  line.update(1, 1);  // + 1000
  // 7000 token-blocks in 7 s: 1000 token-blocks/s = 250 tokens/s; 9000 left = 9 s.
  EXPECT_EQ(line.render(7.0), "progress 43% | blocks r0 2/4 r1 1/4 | 250 tokens/s | ETA 0:09");
}

TEST(ProgressLine, SummarisesManyRanks) {
  ProgressLine line(ProgressMode::kNone, std::vector<int64_t>(16, 100), 2);
  line.update(3, 1);
  EXPECT_EQ(line.render(0), "progress 3% | blocks 0..1/2 over 16 ranks");
}

TEST(ProgressLine, PlainModePrintsOneLinePerFinishedBlock) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    ProgressLine line(ProgressMode::kPlain, {10, 10}, 2, out);
    line.update(0, 1);  // rank 1 still at 0: nothing yet
    line.update(1, 1);  // every rank has finished block 1
    line.update(0, 2);
    line.update(1, 2);
    line.finish();
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_NE(text.find("progress 50%"), std::string::npos) << text;
  EXPECT_NE(text.find("progress 100%"), std::string::npos) << text;
}

// Decode: the slowest rank's step, the tokens of every rank and their rate since decoding began;
// values from a worker are clamped to what the job allows.
TEST(ProgressLine, DecodeShowsStepsTokensAndRate) {
  ProgressLine line(ProgressMode::kNone, {10, 10}, 2);
  line.expect_decode(128);
  line.update_decode(0, 40, 120);
  line.update_decode(1, 38, 40);
  EXPECT_EQ(line.render(0.5), "decode step 38/128 | 160 tokens | 320 tokens/s");
  line.update_decode(1, 1000, -5);
  EXPECT_EQ(line.render(0), "decode step 40/128 | 120 tokens");
  line.update_decode(7, 1, 1);  // no such rank: ignored
  EXPECT_EQ(line.render(0), "decode step 40/128 | 120 tokens");
}

TEST(ProgressLine, PlainModePrintsDecodeEveryTenth) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    ProgressLine line(ProgressMode::kPlain, {10}, 1, out);
    line.expect_decode(100);
    for (int step = 1; step <= 100; ++step) line.update_decode(0, step, step);
    line.finish();
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10) << text;
  EXPECT_NE(text.find("decode step 100/100 | 100 tokens"), std::string::npos) << text;
}

}  // namespace
}  // namespace ringmaster::coordinator
