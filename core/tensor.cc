#include "core/tensor.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace ringmaster {

std::string Device::to_string() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Buffer::Buffer(std::byte* data, size_t bytes, Device device, bool writable,
               std::function<void()> release)
    : data_(data),
      bytes_(bytes),
      device_(device),
      writable_(writable),
      release_(std::move(release)) {}

Buffer::~Buffer() {
  if (release_) release_();
}

namespace {

// From here up, activations come straight from mmap: the kernel hands out zeroed pages, so there
// is no memset pass over memory that is about to be written anyway, and transparent huge pages
// cut the page faults of a fresh [n_local, d_model] buffer 512-fold. Profiles of a 128K-token
// forward showed memset and faults at a quarter of the time with aligned_alloc + memset.
constexpr size_t kMmapThreshold = size_t{2} << 20;

}  // namespace

std::shared_ptr<Buffer> Buffer::allocate_host(size_t bytes) {
  // aligned_alloc needs a size that is a multiple of the alignment, and never 0.
  const size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  if (rounded >= kMmapThreshold) {
    void* data =
        ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    RM_CHECK(data != MAP_FAILED) << "out of host memory allocating " << bytes << " bytes";
    (void)::madvise(data, rounded, MADV_HUGEPAGE);  // advice only; fine if THP is off
    return std::shared_ptr<Buffer>(new Buffer(static_cast<std::byte*>(data), bytes, Device::cpu(),
                                              true, [data, rounded] { ::munmap(data, rounded); }));
  }
  void* data = std::aligned_alloc(kHostAlignment, rounded ? rounded : kHostAlignment);
  RM_CHECK(data != nullptr) << "out of host memory allocating " << bytes << " bytes";
  std::memset(data, 0, rounded);
  return std::shared_ptr<Buffer>(new Buffer(static_cast<std::byte*>(data), bytes, Device::cpu(),
                                            true, [data] { std::free(data); }));
}

StatusOr<std::shared_ptr<Buffer>> Buffer::map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(path, errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status(path, err);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": not a regular file");
  }
  const auto bytes = static_cast<size_t>(info.st_size);
  void* data = nullptr;
  if (bytes > 0) {
    data = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return errno_status(path + ": mmap", err);
    }
  }
  ::close(fd);  // the mapping keeps the file open
  return std::shared_ptr<Buffer>(
      new Buffer(static_cast<std::byte*>(data), bytes, Device::cpu(), false, [data, bytes] {
        if (data) ::munmap(data, bytes);
      }));
}

std::shared_ptr<Buffer> Buffer::borrow(void* data, size_t bytes, Device device, bool writable,
                                       std::function<void()> release) {
  return std::shared_ptr<Buffer>(
      new Buffer(static_cast<std::byte*>(data), bytes, device, writable, std::move(release)));
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  for (int64_t d : shape) RM_CHECK(d >= 0) << "negative dimension in " << shape_to_string(shape);
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.buffer_ = Buffer::allocate_host(t.bytes());
  return t;
}

StatusOr<Tensor> Tensor::from_buffer(std::shared_ptr<Buffer> buffer, size_t offset, Shape shape,
                                     DType dtype) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  for (int64_t d : t.shape_) {
    if (d < 0) return invalid_argument("negative dimension in " + shape_to_string(t.shape_));
  }
  if (offset > buffer->bytes() || t.bytes() > buffer->bytes() - offset) {
    return invalid_argument("tensor " + shape_to_string(t.shape_) + " at byte " +
                            std::to_string(offset) + " runs past the end of a buffer of " +
                            std::to_string(buffer->bytes()) + " bytes");
  }
  t.buffer_ = std::move(buffer);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::wrap(void* data, Shape shape, DType dtype, Device device) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.buffer_ = Buffer::borrow(data, bytes, device, /*writable=*/true);
  return t;
}

Tensor Tensor::wrap(const void* data, Shape shape, DType dtype, Device device) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.buffer_ = Buffer::borrow(const_cast<void*>(data), bytes, device, /*writable=*/false);
  return t;
}

int64_t Tensor::dim(int i) const {
  const int index = i < 0 ? rank() + i : i;
  RM_CHECK(index >= 0 && index < rank()) << "dim(" << i << ") of " << to_string();
  return shape_[index];
}

void* Tensor::mutable_raw() const {
  RM_CHECK(writable()) << "mutable access to read-only " << to_string();
  return buffer_->data() + offset_;
}

void Tensor::check_type(bool matches) const {
  RM_CHECK(matches) << "typed access does not match " << to_string();
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  RM_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= shape_[0])
      << "rows(" << begin << ", " << end << ") of " << to_string();
  Tensor t = *this;
  const size_t row_bytes = shape_[0] ? bytes() / static_cast<size_t>(shape_[0]) : 0;
  t.offset_ += static_cast<size_t>(begin) * row_bytes;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  RM_CHECK(shape_numel(shape) == numel())
      << "reshape of " << to_string() << " to " << shape_to_string(shape);
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  RM_CHECK(device().is_cpu()) << "clone of " << to_string();
  Tensor t = empty(shape_, dtype_);
  std::memcpy(t.mutable_raw(), raw(), bytes());
  return t;
}

std::string Tensor::to_string() const {
  return std::string(dtype_name(dtype_)) + shape_to_string(shape_) + " on " + device().to_string();
}

Tensor to_f32(const Tensor& t) {
  if (t.dtype() == DType::kF32) return t;
  RM_CHECK(t.device().is_cpu()) << "to_f32 of " << t.to_string();
  Tensor out = Tensor::empty(t.shape(), DType::kF32);
  widen_to_f32(t.dtype(), t.raw(), out.data<float>(), static_cast<size_t>(t.numel()));
  return out;
}

Tensor narrow_to(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty(t.shape(), dtype);
  narrow_from_f32(dtype, t.data<float>(), out.mutable_raw(), static_cast<size_t>(t.numel()));
  return out;
}

}  // namespace ringmaster
