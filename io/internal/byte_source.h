// io/internal/byte_source.h: a pull stream of bytes (a file, memory, or gzip over either).
//
// Readers of line-oriented input pull chunks from a ByteSource and never see whether the bytes
// came from disk, memory or zlib. Gzip is recognised by its magic bytes (1f 8b), not by the file
// name, and may have several members (bgzip, `cat a.gz b.gz`).
//
// Gzip is inflated under a cap, since a 4 MB member of one repeated byte inflates to 4 GB: at
// most kMaxInflateRatio times the compressed file's size, plus kInflateSlackBytes. FASTA
// compresses 3-5x (about 2 bits of entropy per base) and runs of N about 1000x, so even a
// sequence that is 90% N stays under 40x: 64x refuses no genuine genome we know of, and a bomb
// stops after 64 MiB per compressed MiB instead of 1 GiB. For gzip, RELIABILITY.md S10's "no
// allocation over twice the input file's size" cannot mean the compressed size (that would
// refuse every genome); readers allocate only as bytes are inflated, so the cap is what bounds
// them. A gzip stream of unknown size (a pipe) is capped at kMaxInflateRatio times the
// compressed bytes read so far, plus kPipeInflateSlackBytes (large, since a chromosome may open
// with tens of Mb of N). A genuine file past the cap can be decompressed first: plain files
// have no ratio.
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

inline constexpr uint64_t kMaxInflateRatio = 64;
inline constexpr uint64_t kInflateSlackBytes = uint64_t{1} << 20;        // 1 MiB
inline constexpr uint64_t kPipeInflateSlackBytes = uint64_t{256} << 20;  // 256 MiB

// The kinds of file open_byte_source accepts. /dev/zero, /dev/urandom and other devices never
// end, so a reader that must terminate refuses them at once.
enum class FileKinds : uint8_t {
  kRegular,        // regular files only
  kRegularOrPipe,  // regular files, FIFOs and pipes (`<(zcat x.fa.gz)`, /dev/stdin in a pipe)
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes into `dst`; returns how many, 0 only at the end of the data.
  // Errors name the source: I/O errors, corrupt or truncated gzip (kDataLoss), gzip inflating
  // past the cap above (kInvalidArgument).
  virtual StatusOr<size_t> read(char* dst, size_t capacity) = 0;
  // True when the bytes are being inflated from gzip.
  virtual bool is_gzip() const { return false; }
  // The number of bytes read() will deliver in all, or -1 when unknown (gzip, pipes).
  virtual int64_t size_hint() const { return -1; }
};

// Opens `path` for reading, if it is of one of `kinds`. With `inflate_gzip`, inflates on the fly
// when the first two bytes are gzip's magic; without, serves the raw bytes.
// Errors: the file cannot be opened or read; kInvalidArgument "PATH: not a regular file (a
// character device)" and the like for another kind of file.
StatusOr<std::unique_ptr<ByteSource>> open_byte_source(const std::string& path,
                                                       bool inflate_gzip = true,
                                                       FileKinds kinds = FileKinds::kRegularOrPipe);

// Serves `bytes` (which must outlive the source), inflating when they start with gzip's magic.
// `display_name` names the data in errors. `max_read` caps every read (tests use 1 to put a
// chunk boundary between every pair of bytes).
std::unique_ptr<ByteSource> memory_byte_source(std::string_view bytes, std::string display_name,
                                               size_t max_read = static_cast<size_t>(-1));

}  // namespace ringmaster::io::internal
