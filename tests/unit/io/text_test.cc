#include "io/text.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ringmaster::io
