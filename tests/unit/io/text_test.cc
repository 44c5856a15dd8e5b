#include "io/text.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

namespace ringmaster::io {
namespace {

std::string write_temp(const std::string& name, std::string_view bytes) {
  std::string path = testing::TempDir() + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
  return path;
}

TEST(Text, IsTheRawBytes) {
  const std::string bytes("line one\r\n\0\xff\x1f\x8b tail", 18);
  const std::string path = write_temp("ringmaster_text_raw.txt", bytes);
  auto record = read_text(path);
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->name, "ringmaster_text_raw.txt");
  ASSERT_EQ(record->ids.size(), bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    EXPECT_EQ(record->ids[i], static_cast<unsigned char>(bytes[i])) << i;
  }
  std::remove(path.c_str());
}

// A gzip file is text like any other: its compressed bytes are the tokens.
TEST(Text, DoesNotInflateGzip) {
  const std::string bytes("\x1f\x8b\x08\x00", 4);
  const std::string path = write_temp("ringmaster_text.gz", bytes);
  auto record = read_text(path);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->ids, (std::vector<uint8_t>{0x1f, 0x8b, 0x08, 0x00}));
  std::remove(path.c_str());
}

TEST(Text, EmptyAndMissingFilesAreErrors) {
  const std::string path = write_temp("ringmaster_text_empty.txt", "");
  EXPECT_EQ(read_text(path).status().message(), path + ": empty file");
  std::remove(path.c_str());
  EXPECT_EQ(read_text("/nonexistent/book.txt").status().code(), StatusCode::kNotFound);
}

// /dev/zero would be read forever and a pipe has no size to check: both are refused at once
// (the FIFO without waiting for a writer), naming the file.
TEST(TextLimits, OnlyRegularFilesAreRead) {
  const auto zero = read_text("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(), "/dev/zero: not a regular file (a character device)");
  const std::string fifo = testing::TempDir() + "ringmaster_text_fifo";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_text(fifo).status().message(), fifo + ": not a regular file (a pipe)");
  std::remove(fifo.c_str());
}

// --max-tokens: a text file longer than the cap is refused from its size, before it is read.
TEST(TextLimits, MaxTokensRefusesALongerFileFromItsSize) {
  const std::string path = write_temp("ringmaster_text_cap.txt", "Hello");
  EXPECT_TRUE(read_text(path, 5).ok());
  EXPECT_TRUE(read_text(path, 0).ok());  // 0: no cap
  const auto over = read_text(path, 4);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            path + ": 5 bytes, more than the job's limit of 4 tokens (--max-tokens)");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ringmaster::io
