// core/tensor.h: Buffer (bytes: owned, file-mapped or borrowed) and Tensor (shape + dtype +
// device over a Buffer).
//
// Ownership: a Tensor shares its Buffer through a shared_ptr, so slices (`rows`, `reshape`) keep
// the bytes alive and cost nothing. `Tensor::wrap` borrows memory it does not own: the caller
// keeps it alive. Host buffers are 64-byte aligned (one cache line, one AVX-512 register).
// File-mapped buffers are read-only; asking one for mutable data is a bug.
//
// Thread-safety: a Tensor is a value; concurrent reads are safe, concurrent writes to the same
// bytes are the caller's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace ringmaster {

enum class DeviceKind : uint8_t { kCpu, kCuda };

struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index) { return {DeviceKind::kCuda, index}; }
  bool is_cpu() const { return kind == DeviceKind::kCpu; }
  bool operator==(const Device&) const = default;
  std::string to_string() const;  // "cpu", "cuda:0"
};

inline constexpr size_t kHostAlignment = 64;

// A contiguous run of bytes and how to release it.
class Buffer {
 public:
  // Zero-filled, 64-byte aligned host memory.
  static std::shared_ptr<Buffer> allocate_host(size_t bytes);
  // Maps `path` read-only (MAP_PRIVATE); the pages load on first touch, so a large file is never
  // copied whole. Errors name the path.
  static StatusOr<std::shared_ptr<Buffer>> map_file(const std::string& path);
  // Borrows memory owned elsewhere; `release` (may be empty) runs when the last user lets go.
  static std::shared_ptr<Buffer> borrow(void* data, size_t bytes, Device device, bool writable,
                                        std::function<void()> release = {});

  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  std::byte* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool writable() const { return writable_; }

 private:
  Buffer(std::byte* data, size_t bytes, Device device, bool writable,
         std::function<void()> release);

  std::byte* data_;
  size_t bytes_;
  Device device_;
  bool writable_;
  std::function<void()> release_;
};

using Shape = std::vector<int64_t>;
std::string shape_to_string(const Shape& shape);  // "[4096, 8, 128]"
int64_t shape_numel(const Shape& shape);

// The C++ element type that stores `dtype` (bf16 and f16 as their uint16_t bits).
template <typename T>
constexpr bool stores_dtype(DType dtype) {
  if constexpr (std::is_same_v<T, float>) return dtype == DType::kF32;
  if constexpr (std::is_same_v<T, int32_t>) return dtype == DType::kI32;
  if constexpr (std::is_same_v<T, uint16_t>) return dtype == DType::kBf16 || dtype == DType::kF16;
  return false;
}

// A dense, row-major (C order) array over a Buffer.
class Tensor {
 public:
  Tensor() = default;  // undefined: no buffer, no shape

  // New zero-filled host tensor.
  static Tensor empty(Shape shape, DType dtype);
  // A view of `buffer` at `offset` bytes; fails if the tensor would run past the buffer's end.
  static StatusOr<Tensor> from_buffer(std::shared_ptr<Buffer> buffer, size_t offset, Shape shape,
                                      DType dtype);
  // Borrows `data` (not owned; the caller keeps it alive and sized for the shape).
  static Tensor wrap(void* data, Shape shape, DType dtype, Device device = Device::cpu());
  static Tensor wrap(const void* data, Shape shape, DType dtype, Device device = Device::cpu());

  bool defined() const { return buffer_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::cpu(); }
  bool writable() const { return buffer_ && buffer_->writable(); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  const void* raw() const { return buffer_ ? buffer_->data() + offset_ : nullptr; }
  void* mutable_raw() const;

  // Typed access. REQUIRES: T stores dtype() (float for f32, int32_t for i32, uint16_t for
  // bf16/f16); data() on a read-only buffer needs a const Tensor.
  template <typename T>
  T* data() {
    check_type(stores_dtype<T>(dtype_));
    return static_cast<T*>(mutable_raw());
  }
  template <typename T>
  const T* data() const {
    check_type(stores_dtype<T>(dtype_));
    return static_cast<const T*>(raw());
  }
  // Read-only typed access from a non-const Tensor (weights in a read-only file mapping).
  template <typename T>
  const T* const_data() const {
    return data<T>();
  }

  // Rows [begin, end) of the leading dimension, sharing the buffer.
  Tensor rows(int64_t begin, int64_t end) const;
  // The same bytes under another shape. REQUIRES: same element count.
  Tensor reshape(Shape shape) const;
  // A new tensor holding the same values (widened to f32 when `dtype` is f32).
  Tensor clone() const;

  std::string to_string() const;  // "f32[4096, 8, 128] on cpu"

 private:
  void check_type(bool matches) const;

  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::kF32;
};

// `t` itself when it is already f32, else a new f32 host tensor with the widened values.
// REQUIRES: a float dtype on the host.
Tensor to_f32(const Tensor& t);
// A new host tensor of `dtype` holding `t`'s f32 values rounded to nearest even.
Tensor narrow_to(const Tensor& t, DType dtype);

}  // namespace ringmaster
