// model/safetensors.h: the weights file of a model directory (weights.safetensors): a strict,
// memory-mapped reader and an atomic writer.
//
// Format (MODEL.md "safetensors"): an 8-byte little-endian header length n, n bytes of JSON
// mapping each tensor name to {"dtype": "F32"|"BF16"|"F16", "shape": [...], "data_offsets":
// [begin, end]} (offsets relative to the first byte after the header), then the data, which
// the tensors tile exactly. An optional "__metadata__" maps strings to strings.
//
// WeightFile::open checks every rule of MODEL.md and returns one error naming the file and the
// place: the tensor, and byte offsets, which are always absolute offsets in the file
// ("weights.safetensors: byte 0: header length ... exceeds the 16777216-byte limit"). On top
// of MODEL.md, a tensor entry with a key other than dtype, shape and data_offsets is an error
// (it is a typo or a format this build does not read). Every element is scanned for NaN and
// infinity while opening. Errors are kInvalidArgument (kNotFound for a missing file).
//
// Ownership: a WeightFile owns the read-only mapping; its tensors are views into it that share
// the mapping (they stay valid after the WeightFile is gone) and keep their stored dtype. The
// file is never read or copied whole, except that a tensor whose bytes are not aligned to its
// element size in the file (a writer that did not pad its header to 8 bytes) is copied into
// aligned memory, since kernels read floats through typed pointers. Truncating the file while
// it is mapped is undefined (SIGBUS), as with any mapping.
//
// The checks run once, at open; the mapping is trusted after that. So open records the file's
// FileStamp (device, inode, size, modification time), and check_unchanged() compares the file
// on disk with it: a worker calls it after its forward pass, before sending rows, so weights
// edited in place (the mapping then sees unchecked bytes) or replaced (another rank may have
// loaded the new ones) fail the job naming the file instead of yielding mixed results. The
// change time is not compared (chmod and hard links change it); a writer that restores the
// modification time and the size defeats the check, as it would a digest-free rsync.
//
// Thread-safety: a WeightFile is immutable once opened; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/config.h"

namespace ringmaster::model {

// The longest header, refused before it is parsed. The Python library allows 100 MB, but the
// parsed JSON takes 10-20x its text (a node per value), so that would let a file claim 2 GB of
// coordinator and worker memory. The largest model config.json may describe (kMaxLayers ATLAS
// blocks of 13 tensors, dimensions of 10 digits) needs about 6.5 MB of header; 16 MiB leaves
// more than twice that and bounds the parse to about 320 MiB.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = uint64_t{16} << 20;

// What identifies a file's contents cheaply: fstat's device, inode, size and mtime.
struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t bytes = 0;
  int64_t mtime_ns = 0;

  bool operator==(const FileStamp&) const = default;
};

class WeightFile {
 public:
  // Maps `path` and checks the header, the offsets and every value (see above).
  static StatusOr<WeightFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  bool contains(std::string_view name) const { return tensors_.count(name) != 0; }
  // The tensor as stored (f32, bf16 or f16), a read-only view into the mapping; nullptr when
  // there is no such tensor.
  const Tensor* find(std::string_view name) const;
  // The tensor as stored. REQUIRES: contains(name) (check_against guarantees it for a config's
  // names).
  const Tensor& tensor(std::string_view name) const;
  // The tensor widened exactly to f32: the view itself when stored as f32, else a new host
  // tensor. REQUIRES: contains(name).
  Tensor f32(std::string_view name) const;
  // The tensor as a GEMM operand in `compute` (kF32 or kBf16): the view itself when stored in
  // that dtype (a bf16 weight is used as mapped, with no widening copy), else a converted host
  // tensor (f16 and f32 rounded to bf16 to nearest even). REQUIRES: contains(name).
  Tensor gemm_operand(std::string_view name, DType compute) const;
  // The "__metadata__" entries (empty when absent). MODEL.md ignores them; inspect may show them.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The whole file, mapped read-only (tensor views point into it).
  const std::shared_ptr<Buffer>& mapping() const { return mapping_; }
  // The file as it was when opened.
  const FileStamp& stamp() const { return stamp_; }
  // OK when `path()` is still the file that was opened, unmodified (see above); else
  // kFailedPrecondition "PATH: the weights file changed during the job (...)".
  Status check_unchanged() const { return check_unchanged(path_, stamp_); }
  // The same for a path and stamp kept apart from their WeightFile.
  static Status check_unchanged(const std::string& path, const FileStamp& stamp);

  // Checks the names and shapes against expected_tensors(config): a missing tensor, an
  // unexpected one, or a shape that differs, each naming the file and the tensor.
  Status check_against(const ModelConfig& config) const;

 private:
  WeightFile() = default;

  std::string path_;
  std::shared_ptr<Buffer> mapping_;
  FileStamp stamp_;
  std::map<std::string, Tensor, std::less<>> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (host f32, bf16 or f16; unique names other than "__metadata__") and
// `metadata` to `path` in the layout the Python safetensors library writes: tensors in sorted
// name order, header padded with spaces to a multiple of 8 bytes so the data is 8-byte
// aligned. Atomic (io/atomic_file.h): readers see the old file or the whole new one. The file
// gets mode 0644 (under the umask). Errors name `path`; on error no temporary file is left behind.
Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace ringmaster::model
