// io/npy.h: NumPy .npy files (format version 1.0, little-endian, C order).
//
// The writer produces files `numpy.load` opens and memory-maps directly; the reader accepts the
// same subset (version 1.0 or 2.0 headers, little-endian or byte-size-1 types, C order) and
// rejects anything else with an error naming the file. Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

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

StatusOr<NpyArray> read_npy(const std::string& path);

}  // namespace ringmaster::io
