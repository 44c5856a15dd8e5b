#include "model/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "core/gemm.h"
#include "io/atomic_file.h"
#include "model/internal/saturating.h"
#include "model/internal/strict_json.h"
#include "model/tensor_names.h"

namespace ringmaster::model {
namespace {

using internal::single_quoted;
using nlohmann::json;

// The format and our tensors are little-endian; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

constexpr std::string_view kMetadataKey = "__metadata__";

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kBf16:
      return "BF16";
    case DType::kF16:
      return "F16";
    case DType::kI32:
      break;
  }
  return nullptr;
}

// One header entry, validated on its own; the tiling check looks at all of them together.
struct Entry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0;  // relative to the data section, as in the header
  uint64_t end = 0;
};

// Reads a JSON integer in [0, INT64_MAX].
bool get_non_negative(const json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
  } else if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
  } else {
    return false;
  }
  return *out <= static_cast<uint64_t>(internal::kSaturated);
}

std::string shown(const json& value) {
  std::string s = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

// Parses and checks one tensor entry. `data_bytes` is the size of the data section, which
// starts at file byte `data_start`.
StatusOr<Entry> parse_entry(const std::string& name, const json& value, uint64_t data_start,
                            uint64_t data_bytes, const std::string& file) {
  const std::string where = file + ": tensor " + single_quoted(name) + ": ";
  auto fail = [&](const std::string& what) { return invalid_argument(where + what); };
  if (!value.is_object()) {
    return fail(std::string("expected an object, got ") + internal::json_kind(value));
  }
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return fail("unknown key " + single_quoted(key) +
                  " (entries have dtype, shape, data_offsets)");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) return fail("missing '" + std::string(key) + "'");
  }

  Entry entry;
  entry.name = name;
  const json& dtype = value.at("dtype");
  if (!dtype.is_string()) return fail("'dtype' is " + shown(dtype) + ", not a string");
  const std::string dtype_text = dtype.get<std::string>();
  if (dtype_text == "F32") {
    entry.dtype = DType::kF32;
  } else if (dtype_text == "BF16") {
    entry.dtype = DType::kBf16;
  } else if (dtype_text == "F16") {
    entry.dtype = DType::kF16;
  } else {
    return fail("unknown dtype " + single_quoted(dtype_text) +
                " (model weights are F32, BF16 or F16)");
  }

  const json& shape = value.at("shape");
  if (!shape.is_array()) return fail("'shape' is " + shown(shape) + ", not an array");
  for (const json& dim : shape) {
    uint64_t d = 0;
    if (!get_non_negative(dim, &d)) {
      return fail("'shape' " + shown(shape) + " holds something other than a size >= 0");
    }
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  const json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !get_non_negative(offsets[0], &entry.begin) ||
      !get_non_negative(offsets[1], &entry.end)) {
    return fail("'data_offsets' is " + shown(offsets) + ", not [begin, end] with sizes >= 0");
  }
  const std::string range =
      "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.end < entry.begin) return fail(range + " end before they begin");
  if (entry.end > data_bytes) {
    return fail(range + " run past the end of the file: file bytes [" +
                std::to_string(data_start + entry.begin) + ", " +
                std::to_string(data_start + entry.end) + ") but the file ends at byte " +
                std::to_string(data_start + data_bytes));
  }
  const int64_t need = internal::sat_mul(internal::sat_numel(entry.shape),
                                         static_cast<int64_t>(dtype_size(entry.dtype)));
  if (static_cast<uint64_t>(need) != entry.end - entry.begin) {
    const std::string needed =
        need == internal::kSaturated ? "more than 2^63" : std::to_string(need);
    return fail(range + " hold " + std::to_string(entry.end - entry.begin) + " bytes but " +
                dtype_text + " " + shape_to_string(entry.shape) + " needs " + needed);
  }
  // sat_numel([2^32, 2^32, 0]) is 0 (saturated times 0), so the size check above passes,
  // but Tensor multiplies the dimensions in order and would overflow on the way to that 0
  // (tests/data/fuzz/safetensors/crash_shape_overflow_then_zero.safetensors). Refuse shapes whose
  // non-zero dimensions multiply past 2^63.
  int64_t nonzero_product = 1;
  for (const int64_t d : entry.shape) {
    if (d != 0) nonzero_product = internal::sat_mul(nonzero_product, d);
  }
  if (nonzero_product == internal::kSaturated) {
    return fail("'shape' " + shown(shape) + " has dimensions whose product exceeds 2^63");
  }
  return entry;
}

// MODEL.md: the tensors tile the data exactly. Sorted by offset, each tensor must begin where
// the previous one ended, the first at 0, and the last must end at the end of the file.
Status check_tiling(std::vector<const Entry*> entries, uint64_t data_start, uint64_t data_bytes,
                    const std::string& file) {
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  auto file_range = [&](const Entry& e) {
    return "file bytes [" + std::to_string(data_start + e.begin) + ", " +
           std::to_string(data_start + e.end) + ")";
  };
  uint64_t covered = 0;  // data bytes [0, covered) are tiled so far
  const Entry* previous = nullptr;
  for (const Entry* e : entries) {
    if (e->begin < covered) {
      return invalid_argument(file + ": tensors " + single_quoted(previous->name) + " (" +
                              file_range(*previous) + ") and " + single_quoted(e->name) + " (" +
                              file_range(*e) + ") overlap");
    }
    if (e->begin > covered) {
      const std::string between = previous ? "between tensors " + single_quoted(previous->name) +
                                                 " and " + single_quoted(e->name)
                                           : "before the first tensor " + single_quoted(e->name);
      return invalid_argument(file + ": byte " + std::to_string(data_start + covered) +
                              ": gap of " + std::to_string(e->begin - covered) + " bytes " +
                              between);
    }
    covered = e->end;
    previous = e;
  }
  if (covered < data_bytes) {
    const std::string after = previous ? "after the last tensor " + single_quoted(previous->name)
                                       : "after a header with no tensors";
    return invalid_argument(file + ": byte " + std::to_string(data_start + covered) + ": " +
                            std::to_string(data_bytes - covered) + " trailing bytes " + after);
  }
  return ok_status();
}

// Bits of a non-finite value (all-ones exponent) per stored dtype.
template <typename Bits>
int64_t first_non_finite(const std::byte* data, int64_t count, Bits exponent_mask) {
  for (int64_t i = 0; i < count; ++i) {
    Bits bits;
    std::memcpy(&bits, data + i * static_cast<int64_t>(sizeof(Bits)), sizeof bits);
    if ((bits & exponent_mask) == exponent_mask) return i;
  }
  return -1;
}

// MODEL.md: any NaN or infinity in the weights is an error, named down to the element.
Status scan_finite(const Entry& e, const std::byte* data, uint64_t file_offset,
                   const std::string& file) {
  const int64_t count = shape_numel(e.shape);
  int64_t bad = -1;
  switch (e.dtype) {
    case DType::kF32:
      bad = first_non_finite<uint32_t>(data, count, 0x7f800000u);
      break;
    case DType::kBf16:
      bad = first_non_finite<uint16_t>(data, count, uint16_t{0x7f80});
      break;
    case DType::kF16:
      bad = first_non_finite<uint16_t>(data, count, uint16_t{0x7c00});
      break;
    case DType::kI32:
      break;
  }
  if (bad < 0) return ok_status();
  float value = 0;
  widen_to_f32(e.dtype, data + bad * static_cast<int64_t>(dtype_size(e.dtype)), &value, 1);
  const char* what = std::isnan(value) ? "NaN" : value > 0 ? "+inf" : "-inf";
  // The multi-index, last dimension fastest (C order).
  Shape index(e.shape.size());
  int64_t rest = bad;
  for (size_t d = e.shape.size(); d-- > 0;) {
    index[d] = rest % e.shape[d];
    rest /= e.shape[d];
  }
  return invalid_argument(
      file + ": tensor " + single_quoted(e.name) + ": element " + std::to_string(bad) + " (index " +
      shape_to_string(index) + ", file byte " +
      std::to_string(file_offset + static_cast<uint64_t>(bad) * dtype_size(e.dtype)) + ") is " +
      what);
}

// JSON string literal for `s`; nlohmann's strict handler throws on invalid UTF-8.
StatusOr<std::string> json_string(const std::string& s, const std::string& path) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    return invalid_argument(path + ": name " + single_quoted(s) + " is not valid UTF-8");
  }
}

StatusOr<std::string> make_header(const std::vector<const std::pair<std::string, Tensor>*>& sorted,
                                  const std::map<std::string, std::string>& metadata,
                                  const std::string& path) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      RM_ASSIGN_OR_RETURN(const std::string k, json_string(key, path));
      RM_ASSIGN_OR_RETURN(const std::string v, json_string(value, path));
      if (!first) header += ',';
      header += k;
      header += ':';
      header += v;
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto* item : sorted) {
    const Tensor& t = item->second;
    RM_ASSIGN_OR_RETURN(const std::string name, json_string(item->first, path));
    if (header.size() > 1) header += ",";
    header += name + ":{\"dtype\":\"" + safetensors_dtype(t.dtype()) + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape().size(); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(t.shape()[d]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.bytes()) + "]}";
    offset += t.bytes();
  }
  header += "}";
  // The Python library pads with spaces so the data starts 8-byte aligned; JSON allows
  // trailing whitespace.
  header.append((8 - header.size() % 8) % 8, ' ');
  return header;
}

StatusOr<FileStamp> stamp_of(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return errno_status(path, errno);
  FileStamp stamp;
  stamp.device = static_cast<uint64_t>(info.st_dev);
  stamp.inode = static_cast<uint64_t>(info.st_ino);
  stamp.bytes = static_cast<int64_t>(info.st_size);
  stamp.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                   static_cast<int64_t>(info.st_mtim.tv_nsec);
  return stamp;
}

}  // namespace

Status WeightFile::check_unchanged(const std::string& path, const FileStamp& stamp) {
  StatusOr<FileStamp> now = stamp_of(path);
  auto changed = [&](const std::string& how) {
    return failed_precondition(path + ": the weights file changed during the job (" + how +
                               "); the loaded weights no longer match it. Leave the model "
                               "directory alone while a job runs");
  };
  if (!now.ok()) return changed("it can no longer be read: " + now.status().message());
  if (now->device != stamp.device || now->inode != stamp.inode) {
    return changed("it was replaced by another file");
  }
  if (now->bytes != stamp.bytes) {
    return changed("its size went from " + std::to_string(stamp.bytes) + " to " +
                   std::to_string(now->bytes) + " bytes");
  }
  if (now->mtime_ns != stamp.mtime_ns) return changed("it was modified since it was opened");
  return ok_status();
}

StatusOr<WeightFile> WeightFile::open(const std::string& path) {
  // Stamped before mapping: a change after this point differs from the stamp, so a later
  // check_unchanged catches it; a size that disagrees with the mapping is a change already.
  RM_ASSIGN_OR_RETURN(const FileStamp stamp, stamp_of(path));
  RM_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> mapping, Buffer::map_file(path));
  const uint64_t file_bytes = mapping->bytes();
  auto fail = [&](const std::string& what) { return invalid_argument(path + ": " + what); };
  if (static_cast<int64_t>(file_bytes) != stamp.bytes) {
    return failed_precondition(path + ": the weights file changed while it was being opened");
  }
  if (file_bytes < 8) {
    return fail("byte 0: the file is " + std::to_string(file_bytes) +
                " bytes, too short for the 8-byte header length");
  }
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, mapping->data(), 8);
  if (header_bytes > kMaxSafetensorsHeaderBytes) {
    return fail("byte 0: header length " + std::to_string(header_bytes) + " exceeds the " +
                std::to_string(kMaxSafetensorsHeaderBytes) + "-byte limit");
  }
  if (header_bytes > file_bytes - 8) {
    return fail("byte 0: header length " + std::to_string(header_bytes) +
                " runs past the end of the file (" + std::to_string(file_bytes) + " bytes)");
  }
  const std::string_view text(reinterpret_cast<const char*>(mapping->data()) + 8, header_bytes);
  json root;
  if (auto error = internal::parse_strict_json(text, root)) {
    std::string where = error->byte ? "byte " + std::to_string(8 + *error->byte) + ": header"
                                    : std::string("header");
    if (!error->path.empty()) where += " entry " + single_quoted(error->path);
    return fail(where + ": " + error->what);
  }
  if (!root.is_object()) {
    return fail(std::string("byte 8: header: expected a JSON object, got ") +
                internal::json_kind(root));
  }

  WeightFile file;
  file.path_ = path;
  file.stamp_ = stamp;
  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - data_start;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) return fail("header: '__metadata__' is not an object");
      for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) {
          return fail("header: '__metadata__' maps strings to strings, but " + single_quoted(key) +
                      " is " + internal::json_kind(item));
        }
        file.metadata_[key] = item.get<std::string>();
      }
      continue;
    }
    RM_ASSIGN_OR_RETURN(Entry entry, parse_entry(name, value, data_start, data_bytes, path));
    entries.push_back(std::move(entry));
  }
  std::vector<const Entry*> pointers;
  pointers.reserve(entries.size());
  for (const Entry& e : entries) pointers.push_back(&e);
  RM_RETURN_IF_ERROR(check_tiling(pointers, data_start, data_bytes, path));

  for (const Entry& e : entries) {
    const uint64_t offset = data_start + e.begin;
    RM_RETURN_IF_ERROR(scan_finite(e, mapping->data() + offset, offset, path));
    Tensor tensor;
    if (offset % dtype_size(e.dtype) == 0) {
      RM_ASSIGN_OR_RETURN(tensor, Tensor::from_buffer(mapping, offset, e.shape, e.dtype));
    } else {
      // Misaligned for its element type: typed loads would be undefined, so copy this one.
      tensor = Tensor::empty(e.shape, e.dtype);
      std::memcpy(tensor.mutable_raw(), mapping->data() + offset, tensor.bytes());
    }
    file.tensors_.emplace(e.name, std::move(tensor));
  }
  file.mapping_ = std::move(mapping);
  return file;
}

std::vector<std::string> WeightFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, unused] : tensors_) out.push_back(name);
  return out;
}

const Tensor* WeightFile::find(std::string_view name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const Tensor& WeightFile::tensor(std::string_view name) const {
  const Tensor* t = find(name);
  RM_CHECK(t != nullptr) << path_ << ": no tensor '" << name << "'";
  return *t;
}

Tensor WeightFile::f32(std::string_view name) const { return to_f32(tensor(name)); }

Tensor WeightFile::gemm_operand(std::string_view name, DType compute) const {
  if (compute != DType::kBf16) return f32(name);
  const Tensor& stored = tensor(name);
  if (stored.dtype() == DType::kBf16) return stored;
  const Tensor wide = to_f32(stored);
  Tensor out = Tensor::empty(wide.shape(), DType::kBf16);
  round_to_bf16(wide.data<float>(), out.data<uint16_t>(), wide.numel());
  return out;
}

Status WeightFile::check_against(const ModelConfig& config) const {
  const std::vector<TensorSpec> expected = expected_tensors(config);
  std::set<std::string_view> wanted;
  const TensorSpec* first_missing = nullptr;
  size_t missing = 0;
  for (const TensorSpec& spec : expected) {
    wanted.insert(spec.name);
    if (!contains(spec.name)) {
      if (!first_missing) first_missing = &spec;
      ++missing;
    }
  }
  const std::string* first_unexpected = nullptr;
  size_t unexpected = 0;
  for (const auto& [name, unused] : tensors_) {
    if (wanted.count(name) == 0) {
      if (!first_unexpected) first_unexpected = &name;
      ++unexpected;
    }
  }
  auto more = [](size_t n, const char* what) {
    return n > 1 ? " and " + std::to_string(n - 1) + " more " + what : std::string();
  };
  if (first_missing) {
    // A misspelt name shows up as one missing and one unexpected tensor: say both.
    std::string message = path_ + ": missing tensor " + single_quoted(first_missing->name) + " " +
                          shape_to_string(first_missing->shape) + more(missing, "missing");
    if (first_unexpected) {
      message += "; unexpected tensor " + single_quoted(*first_unexpected) +
                 more(unexpected, "unexpected");
    }
    return invalid_argument(message);
  }
  if (first_unexpected) {
    return invalid_argument(path_ + ": unexpected tensor " + single_quoted(*first_unexpected) +
                            " (not in the config's tensor list)" + more(unexpected, "unexpected"));
  }
  for (const TensorSpec& spec : expected) {
    const Tensor& t = tensor(spec.name);
    if (t.shape() != spec.shape) {
      return invalid_argument(path_ + ": tensor " + single_quoted(spec.name) + ": shape " +
                              shape_to_string(t.shape()) + " does not match " +
                              shape_to_string(spec.shape) + " from the config");
    }
  }
  return ok_status();
}

Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<const std::pair<std::string, Tensor>*> sorted;
  sorted.reserve(tensors.size());
  for (const auto& item : tensors) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = *sorted[i];
    if (name == kMetadataKey)
      return invalid_argument(path + ": '__metadata__' is not a tensor name");
    if (i > 0 && sorted[i - 1]->first == name) {
      return invalid_argument(path + ": tensor " + single_quoted(name) + " given twice");
    }
    if (!t.defined() || !t.device().is_cpu() || safetensors_dtype(t.dtype()) == nullptr) {
      return invalid_argument(path + ": tensor " + single_quoted(name) + " is " +
                              (t.defined() ? t.to_string() : std::string("undefined")) +
                              "; safetensors output takes host f32, bf16 or f16");
    }
  }
  RM_ASSIGN_OR_RETURN(const std::string header, make_header(sorted, metadata, path));

  RM_ASSIGN_OR_RETURN(io::AtomicFile file, io::AtomicFile::create(path));
  const uint64_t header_bytes = header.size();  // little-endian (asserted above)
  RM_RETURN_IF_ERROR(file.write(std::as_bytes(std::span(&header_bytes, 1))));
  RM_RETURN_IF_ERROR(file.write(header));
  for (const auto* item : sorted) {
    const Tensor& t = item->second;
    RM_RETURN_IF_ERROR(file.write(std::span(static_cast<const std::byte*>(t.raw()), t.bytes())));
  }
  return file.commit();
}

}  // namespace ringmaster::model
