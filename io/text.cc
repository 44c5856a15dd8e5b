#include "io/text.h"

#include <vector>

#include "io/internal/byte_source.h"

namespace ringmaster::io {

StatusOr<InputRecord> read_text(const std::string& path) {
  RM_ASSIGN_OR_RETURN(auto source, internal::open_byte_source(path, /*inflate_gzip=*/false));
  InputRecord record;
  const size_t slash = path.find_last_of('/');
  record.name = slash == std::string::npos ? path : path.substr(slash + 1);
  // Exact for regular files, so the vector never regrows past the file size.
  if (source->size_hint() > 0) record.ids.reserve(static_cast<size_t>(source->size_hint()));
  std::vector<char> chunk(1 << 20);
  for (;;) {
    RM_ASSIGN_OR_RETURN(const size_t n, source->read(chunk.data(), chunk.size()));
    if (n == 0) break;
    record.ids.insert(record.ids.end(), chunk.begin(), chunk.begin() + static_cast<ptrdiff_t>(n));
  }
  if (record.ids.empty()) return invalid_argument(path + ": empty file");
  return record;
}

}  // namespace ringmaster::io
