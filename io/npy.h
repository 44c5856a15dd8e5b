// io/npy.h: NumPy .npy files (format version 1.0, little-endian, C order).
//
// The writer produces files `numpy.load` opens and memory-maps directly; the reader accepts the
// same subset (version 1.0 or 2.0 headers, little-endian or byte-size-1 types, C order) and
// rejects anything else with an error naming the file. NpyWriter writes a large array in pieces
// (rows in any order) so a job's output never has to sit in memory whole.
// Thread-safe: no shared state; one NpyWriter is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "io/atomic_file.h"

namespace ringmaster::io {

// An array as stored: numpy's type string ("<f4", "<f8", "<i4", "<i8"), shape, raw bytes.
struct NpyArray {
  std::string descr;
  Shape shape;
  std::vector<std::byte> data;

  // The values widened to double. Errors for a type string it does not know.
  StatusOr<std::vector<double>> to_f64() const;
};

// Writes `bytes` (C order, `shape`, numpy type `descr`) to `path`, replacing it.
Status write_npy(const std::string& path, const void* data, const Shape& shape,
                 std::string_view descr);
// Writes an f32 or i32 host tensor.
Status write_npy(const std::string& path, const Tensor& tensor);
// Writes the same bytes into `file`, which the caller commits (or drops) when it chooses.
Status write_npy(AtomicFile& file, const Tensor& tensor);

StatusOr<NpyArray> read_npy(const std::string& path);

// A .npy file written row by row (rows run along the first axis). Used for job outputs: the
// file is sized up front, rows may arrive in any order, and finish() makes it durable (fsync).
class NpyWriter {
 public:
  // Creates `path` (replacing it) for an array of `shape` (rank >= 1) and numpy type `descr`
  // ("<f4", "<i4", ...). Errors: unknown descr, rank 0, the file cannot be created or sized.
  static StatusOr<NpyWriter> create(const std::string& path, const Shape& shape,
                                    std::string_view descr);
  NpyWriter(NpyWriter&& other) noexcept;
  NpyWriter& operator=(NpyWriter&& other) noexcept;
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  // Closes the file; an unfinished file is left incomplete (its owner removes it).
  ~NpyWriter();

  // Writes rows [first_row, first_row + num_rows) from `data` (C order, num_rows rows). Each row
  // should be written once. Errors: a range outside the array, I/O errors naming the file.
  Status write_rows(int64_t first_row, int64_t num_rows, const void* data);
  // Checks that as many rows were written as the array has, fsyncs and closes the file.
  // Errors: missing rows, I/O errors naming the file.
  Status finish();

  int64_t row_bytes() const { return row_bytes_; }

 private:
  NpyWriter() = default;
  Status pwrite_all(int64_t offset, const void* data, size_t bytes);

  std::string path_;
  int fd_ = -1;
  int64_t num_rows_ = 0;
  int64_t row_bytes_ = 0;
  int64_t data_offset_ = 0;  // header bytes before row 0
  int64_t rows_written_ = 0;
};

}  // namespace ringmaster::io
