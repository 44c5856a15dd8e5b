// io/internal/byte_source.h: a pull stream of bytes (a file, memory, or gzip over either).
//
// Readers of line-oriented input pull chunks from a ByteSource and never see whether the bytes
// came from disk, memory or zlib. Gzip is recognised by its magic bytes (1f 8b), not by the file
// name, and may have several members (bgzip, `cat a.gz b.gz`).
//
// Ownership: each source owns what it reads from. Thread-compatible: one reader at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace ringmaster::io::internal {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes into `dst`; returns how many, 0 only at the end of the data.
  // Errors name the source: I/O errors, corrupt or truncated gzip (kDataLoss).
  virtual StatusOr<size_t> read(char* dst, size_t capacity) = 0;
  // True when the bytes are being inflated from gzip.
  virtual bool is_gzip() const { return false; }
  // The number of bytes read() will deliver in all, or -1 when unknown (gzip, pipes).
  virtual int64_t size_hint() const { return -1; }
};

// Opens `path` for reading (pipes and other non-seekable files work too). With `inflate_gzip`,
// inflates on the fly when the first two bytes are gzip's magic; without, serves the raw bytes.
// Errors: the file cannot be opened or read.
StatusOr<std::unique_ptr<ByteSource>> open_byte_source(const std::string& path,
                                                       bool inflate_gzip = true);

// Serves `bytes` (which must outlive the source), inflating when they start with gzip's magic.
// `display_name` names the data in errors. `max_read` caps every read (tests use 1 to put a
// chunk boundary between every pair of bytes).
std::unique_ptr<ByteSource> memory_byte_source(std::string_view bytes, std::string display_name,
                                               size_t max_read = static_cast<size_t>(-1));

}  // namespace ringmaster::io::internal
