#include "io/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace ringmaster::io {
namespace {

std::string temp_path(const char* name) { return std::string("/tmp/ringmaster_npy_") + name; }

TEST(Npy, RoundTripsF32) {
  Tensor t = Tensor::empty({2, 3}, DType::kF32);
  for (int i = 0; i < 6; ++i) t.data<float>()[i] = 0.5f * static_cast<float>(i) - 1.0f;
  const std::string path = temp_path("f32.npy");
  ASSERT_TRUE(write_npy(path, t).ok());
  auto read = read_npy(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->descr, "<f4");
  EXPECT_EQ(read->shape, (Shape{2, 3}));
  auto values = read->to_f64();
  ASSERT_TRUE(values.ok());
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*values)[static_cast<size_t>(i)], 0.5 * i - 1.0);
  std::remove(path.c_str());
}

TEST(Npy, HeaderIsPaddedTo64Bytes) {
  const int32_t values[1] = {7};
  const std::string path = temp_path("one.npy");
  ASSERT_TRUE(write_npy(path, values, {1}, "<i4").ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_EQ((bytes.size() - 4) % 64, 0u);  // header padded, then one 4-byte value
  EXPECT_NE(bytes.find("'shape': (1,)"), std::string::npos);
  EXPECT_EQ(bytes[bytes.size() - 5], '\n');
  std::remove(path.c_str());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The coordinator writes its .npy through an AtomicFile: the bytes must be write_npy's.
TEST(Npy, AtomicFileGetsTheSameBytes) {
  for (const DType dtype : {DType::kF32, DType::kI32}) {
    Tensor t = Tensor::empty({3, 2}, dtype);
    for (int i = 0; i < 6; ++i) {
      if (dtype == DType::kF32)
        t.data<float>()[i] = 0.25f * static_cast<float>(i);
      else
        t.data<int32_t>()[i] = i - 3;
    }
    const std::string plain = temp_path("plain.npy");
    const std::string atomic = temp_path("atomic.npy");
    ASSERT_TRUE(write_npy(plain, t).ok());
    StatusOr<AtomicFile> file = AtomicFile::create(atomic);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    ASSERT_TRUE(write_npy(*file, t).ok());
    ASSERT_TRUE(file->commit().ok());
    EXPECT_EQ(read_bytes(atomic), read_bytes(plain));
    std::remove(plain.c_str());
    std::remove(atomic.c_str());
  }
}

TEST(Npy, RejectsGarbageNamingTheFile) {
  const std::string path = temp_path("garbage.npy");
  std::ofstream(path) << "not numpy at all";
  const auto read = read_npy(path);
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find(path), std::string::npos);
  std::remove(path.c_str());
}

TEST(NpyWriter, RowsInAnyOrderReadBackInOrder) {
  const std::string path = temp_path("writer.npy");
  auto writer = NpyWriter::create(path, {4, 2}, "<f4");
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  EXPECT_EQ(writer->row_bytes(), 8);
  const float tail[4] = {4, 5, 6, 7};
  const float head[4] = {0, 1, 2, 3};
  ASSERT_TRUE(writer->write_rows(2, 2, tail).ok());
  ASSERT_TRUE(writer->write_rows(0, 2, head).ok());
  ASSERT_TRUE(writer->finish().ok());
  auto read = read_npy(path);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->shape, (Shape{4, 2}));
  const auto values = read->to_f64();
  for (int i = 0; i < 8; ++i) EXPECT_EQ((*values)[static_cast<size_t>(i)], i);
  std::remove(path.c_str());
}

TEST(NpyWriter, RejectsBadRangesAndMissingRows) {
  const std::string path = temp_path("writer_bad.npy");
  auto writer = NpyWriter::create(path, {3}, "<i4");
  ASSERT_TRUE(writer.ok());
  const int32_t v[2] = {1, 2};
  EXPECT_EQ(writer->write_rows(2, 2, v).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(writer->write_rows(0, 2, v).ok());
  const Status finished = writer->finish();
  EXPECT_EQ(finished.message(), path + ": 2 of 3 rows written");
  EXPECT_EQ(NpyWriter::create(path, {3}, "<c16").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NpyWriter::create(path, {}, "<f4").status().code(), StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ringmaster::io
