#include "core/tensor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>

namespace ringmaster {
namespace {

TEST(Tensor, EmptyIsZeroedAndAligned) {
  Tensor t = Tensor::empty({3, 5, 7}, DType::kF32);
  EXPECT_EQ(t.numel(), 105);
  EXPECT_EQ(t.bytes(), 420u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % kHostAlignment, 0u);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  EXPECT_EQ(t.to_string(), "f32[3, 5, 7] on cpu");
  EXPECT_EQ(t.dim(-1), 7);
}

TEST(Tensor, RowsShareTheBuffer) {
  Tensor t = Tensor::empty({4, 2}, DType::kI32);
  for (int i = 0; i < 8; ++i) t.data<int32_t>()[i] = i;
  Tensor middle = t.rows(1, 3);
  EXPECT_EQ(middle.shape(), (Shape{2, 2}));
  EXPECT_EQ(middle.data<int32_t>()[0], 2);
  middle.data<int32_t>()[0] = 42;
  EXPECT_EQ(t.data<int32_t>()[2], 42);
  EXPECT_EQ(t.reshape({8}).data<int32_t>()[2], 42);
}

TEST(Tensor, WrapBorrows) {
  float storage[6] = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::wrap(storage, {2, 3}, DType::kF32);
  t.data<float>()[5] = 60;
  EXPECT_EQ(storage[5], 60);
  const float* const_storage = storage;
  const Tensor read_only = Tensor::wrap(static_cast<const void*>(const_storage), {6}, DType::kF32);
  EXPECT_FALSE(read_only.writable());
  EXPECT_EQ(read_only.data<float>()[0], 1);
}

TEST(Tensor, FromBufferChecksBounds) {
  auto buffer = Buffer::allocate_host(64);
  EXPECT_TRUE(Tensor::from_buffer(buffer, 0, {16}, DType::kF32).ok());
  const auto past_end = Tensor::from_buffer(buffer, 4, {16}, DType::kF32);
  EXPECT_EQ(past_end.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(past_end.status().message().find("runs past the end"), std::string::npos);
  EXPECT_FALSE(Tensor::from_buffer(buffer, 1000, {0}, DType::kF32).ok());
}

TEST(Tensor, MapsAFileReadOnly) {
  char path[] = "/tmp/ringmaster_tensor_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const float values[3] = {0.5f, -1.0f, 8.0f};
  ASSERT_EQ(write(fd, values, sizeof values), static_cast<ssize_t>(sizeof values));
  close(fd);
  auto mapped = Buffer::map_file(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status().to_string();
  EXPECT_FALSE((*mapped)->writable());
  auto t = Tensor::from_buffer(*mapped, 4, {2}, DType::kF32);
  ASSERT_TRUE(t.ok());
  const Tensor& view = *t;
  EXPECT_EQ(view.data<float>()[0], -1.0f);
  EXPECT_EQ(view.data<float>()[1], 8.0f);
  std::remove(path);
  // The mapping outlives the file's name.
  EXPECT_EQ(view.data<float>()[1], 8.0f);
}

TEST(Tensor, MapFileErrorsNameThePath) {
  const auto missing = Buffer::map_file("/no/such/weights.safetensors");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/no/such/weights.safetensors"), std::string::npos);
  EXPECT_FALSE(Buffer::map_file("/tmp").ok());
}

TEST(Tensor, WidenAndNarrow) {
  Tensor t = Tensor::empty({3}, DType::kF32);
  t.data<float>()[0] = 1.5f;
  t.data<float>()[1] = -3.0f;
  t.data<float>()[2] = 0.125f;
  for (DType dtype : {DType::kBf16, DType::kF16}) {
    const Tensor narrow = narrow_to(t, dtype);
    EXPECT_EQ(narrow.dtype(), dtype);
    const Tensor wide = to_f32(narrow);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(wide.data<float>()[i], t.data<float>()[i]);
  }
  EXPECT_EQ(to_f32(t).raw(), t.raw());  // already f32: no copy
}

TEST(TensorDeathTest, TypedAccessMustMatch) {
  Tensor t = Tensor::empty({2}, DType::kBf16);
  EXPECT_DEATH((void)t.data<float>(), "typed access");
}

}  // namespace
}  // namespace ringmaster
