#include "io/npy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <utility>

namespace ringmaster::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

size_t descr_item_size(std::string_view descr) {
  if (descr == "<f4" || descr == "<i4" || descr == "<u4") return 4;
  if (descr == "<f8" || descr == "<i8" || descr == "<u8") return 8;
  if (descr == "<f2" || descr == "<i2" || descr == "<u2") return 2;
  if (descr == "|u1" || descr == "|i1" || descr == "|b1") return 1;
  return 0;
}

// Extracts the value text of 'key' from numpy's header dict (a Python literal).
std::string dict_value(const std::string& header, const std::string& key) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return {};
  size_t begin = header.find(':', at);
  if (begin == std::string::npos) return {};
  ++begin;
  while (begin < header.size() && header[begin] == ' ') ++begin;
  size_t end = begin;
  if (begin < header.size() && header[begin] == '(') {
    end = header.find(')', begin);
    return end == std::string::npos ? std::string{} : header.substr(begin, end - begin + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(begin, end - begin);
}

// The version 1.0 preamble: magic, version, header length, then the header dict padded with
// spaces and '\n' so the data starts at a multiple of 64 bytes.
StatusOr<std::string> npy_preamble(const std::string& path, const Shape& shape,
                                   std::string_view descr) {
  std::ostringstream dict;
  dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict << shape[i];
    if (shape.size() == 1)
      dict << ",";  // (n,) is a tuple, (n) is not
    else if (i + 1 < shape.size())
      dict << ", ";
  }
  dict << "), }";
  std::string header = dict.str();
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  if (header.size() > 0xffff) return invalid_argument(path + ": npy header too long");
  std::string preamble(kMagic, 6);
  preamble.push_back(1);
  preamble.push_back(0);
  preamble.push_back(static_cast<char>(header.size() & 0xff));
  preamble.push_back(static_cast<char>(header.size() >> 8));
  return preamble + header;
}

}  // namespace

StatusOr<std::vector<double>> NpyArray::to_f64() const {
  const size_t n = static_cast<size_t>(shape_numel(shape));
  std::vector<double> out(n);
  auto convert = [&]<typename T>() {
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
      out[i] = static_cast<double>(v);
    }
  };
  if (descr == "<f8")
    convert.template operator()<double>();
  else if (descr == "<f4")
    convert.template operator()<float>();
  else if (descr == "<i8")
    convert.template operator()<int64_t>();
  else if (descr == "<i4")
    convert.template operator()<int32_t>();
  else
    return invalid_argument("npy type '" + descr + "' cannot be read as numbers");
  return out;
}

Status write_npy(const std::string& path, const void* data, const Shape& shape,
                 std::string_view descr) {
  RM_ASSIGN_OR_RETURN(const std::string preamble, npy_preamble(path, shape, descr));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return errno_status(path, errno);
  out.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * descr_item_size(descr);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  out.flush();
  if (!out) return data_loss(path + ": write failed");
  return ok_status();
}

namespace {

// numpy's type string for what write_npy accepts: a host f32 or i32 tensor.
StatusOr<std::string_view> tensor_descr(const std::string& path, const Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kF32:
      return std::string_view("<f4");
    case DType::kI32:
      return std::string_view("<i4");
    default:
      return invalid_argument(path + ": npy output of " + tensor.to_string() + " unsupported");
  }
}

}  // namespace

Status write_npy(const std::string& path, const Tensor& tensor) {
  RM_ASSIGN_OR_RETURN(const std::string_view descr, tensor_descr(path, tensor));
  return write_npy(path, tensor.raw(), tensor.shape(), descr);
}

Status write_npy(AtomicFile& file, const Tensor& tensor) {
  RM_ASSIGN_OR_RETURN(const std::string_view descr, tensor_descr(file.path(), tensor));
  RM_ASSIGN_OR_RETURN(const std::string preamble, npy_preamble(file.path(), tensor.shape(), descr));
  RM_RETURN_IF_ERROR(file.write(preamble));
  const size_t bytes = static_cast<size_t>(shape_numel(tensor.shape())) * descr_item_size(descr);
  return file.write(std::span(static_cast<const std::byte*>(tensor.raw()), bytes));
}

StatusOr<NpyArray> read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_status(path, errno);
  char prefix[10];
  if (!in.read(prefix, 10) || std::memcmp(prefix, kMagic, 6) != 0) {
    return invalid_argument(path + ": not an npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(prefix[6]);
  size_t header_len = static_cast<unsigned char>(prefix[8]) |
                      (static_cast<size_t>(static_cast<unsigned char>(prefix[9])) << 8);
  if (major == 2 || major == 3) {
    char more[2];
    if (!in.read(more, 2)) return data_loss(path + ": truncated npy header");
    header_len |= (static_cast<size_t>(static_cast<unsigned char>(more[0])) << 16) |
                  (static_cast<size_t>(static_cast<unsigned char>(more[1])) << 24);
  } else if (major != 1) {
    return invalid_argument(path + ": npy version " + std::to_string(major) + " unsupported");
  }
  if (header_len > (1u << 20)) return invalid_argument(path + ": npy header too long");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len))) {
    return data_loss(path + ": truncated npy header");
  }
  NpyArray array;
  std::string descr = dict_value(header, "descr");
  if (descr.size() < 2) return invalid_argument(path + ": npy header has no descr");
  array.descr = descr.substr(1, descr.size() - 2);
  if (dict_value(header, "fortran_order") != "False") {
    return invalid_argument(path + ": Fortran-order npy unsupported");
  }
  const size_t item = descr_item_size(array.descr);
  if (item == 0) return invalid_argument(path + ": npy type '" + array.descr + "' unsupported");
  std::string shape_text = dict_value(header, "shape");
  if (shape_text.empty()) return invalid_argument(path + ": npy header has no shape");
  std::istringstream dims(shape_text.substr(1, shape_text.size() - 2));
  for (std::string token; std::getline(dims, token, ',');) {
    if (token.find_first_not_of(' ') == std::string::npos) continue;
    array.shape.push_back(std::stoll(token));
  }
  const size_t bytes = static_cast<size_t>(shape_numel(array.shape)) * item;
  array.data.resize(bytes);
  if (!in.read(reinterpret_cast<char*>(array.data.data()), static_cast<std::streamsize>(bytes))) {
    return data_loss(path + ": npy data shorter than its shape " + shape_to_string(array.shape));
  }
  return array;
}

StatusOr<NpyWriter> NpyWriter::create(const std::string& path, const Shape& shape,
                                      std::string_view descr) {
  const size_t item = descr_item_size(descr);
  if (item == 0) return invalid_argument(path + ": npy type '" + std::string(descr) + "' unknown");
  if (shape.empty()) return invalid_argument(path + ": NpyWriter needs an array of rank >= 1");
  for (const int64_t dim : shape) {
    if (dim < 0) return invalid_argument(path + ": negative npy shape " + shape_to_string(shape));
  }
  RM_ASSIGN_OR_RETURN(const std::string preamble, npy_preamble(path, shape, descr));
  NpyWriter writer;
  writer.path_ = path;
  writer.num_rows_ = shape[0];
  writer.row_bytes_ =
      static_cast<int64_t>(item) * shape_numel(Shape(shape.begin() + 1, shape.end()));
  writer.data_offset_ = static_cast<int64_t>(preamble.size());
  writer.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (writer.fd_ < 0) return errno_status(path, errno);
  // Sized up front (sparse until written) so rows can land in any order.
  const int64_t total = writer.data_offset_ + writer.num_rows_ * writer.row_bytes_;
  if (::ftruncate(writer.fd_, total) != 0) return errno_status(path, errno);
  RM_RETURN_IF_ERROR(writer.pwrite_all(0, preamble.data(), preamble.size()));
  return writer;
}

NpyWriter::NpyWriter(NpyWriter&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      num_rows_(other.num_rows_),
      row_bytes_(other.row_bytes_),
      data_offset_(other.data_offset_),
      rows_written_(other.rows_written_) {}

NpyWriter& NpyWriter::operator=(NpyWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    num_rows_ = other.num_rows_;
    row_bytes_ = other.row_bytes_;
    data_offset_ = other.data_offset_;
    rows_written_ = other.rows_written_;
  }
  return *this;
}

NpyWriter::~NpyWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status NpyWriter::pwrite_all(int64_t offset, const void* data, size_t bytes) {
  const char* src = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd_, src, bytes, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status(path_, errno);
    }
    src += n;
    bytes -= static_cast<size_t>(n);
    offset += n;
  }
  return ok_status();
}

Status NpyWriter::write_rows(int64_t first_row, int64_t num_rows, const void* data) {
  RM_CHECK(fd_ >= 0) << "write_rows on a finished or moved-from NpyWriter";
  if (first_row < 0 || num_rows < 0 || first_row + num_rows > num_rows_) {
    return invalid_argument(path_ + ": rows [" + std::to_string(first_row) + ", " +
                            std::to_string(first_row + num_rows) + ") outside the " +
                            std::to_string(num_rows_) + " rows of the array");
  }
  RM_RETURN_IF_ERROR(pwrite_all(data_offset_ + first_row * row_bytes_, data,
                                static_cast<size_t>(num_rows * row_bytes_)));
  rows_written_ += num_rows;
  return ok_status();
}

Status NpyWriter::finish() {
  RM_CHECK(fd_ >= 0) << "finish on a finished or moved-from NpyWriter";
  const int fd = std::exchange(fd_, -1);
  if (rows_written_ != num_rows_) {
    ::close(fd);
    return failed_precondition(path_ + ": " + std::to_string(rows_written_) + " of " +
                               std::to_string(num_rows_) + " rows written");
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status(path_, err);
  }
  // close() can report a delayed write error (NFS); it must not pass silently.
  if (::close(fd) != 0) return errno_status(path_, errno);
  return ok_status();
}

}  // namespace ringmaster::io
