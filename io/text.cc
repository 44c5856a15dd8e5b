#include "io/text.h"

#include <algorithm>
#include <vector>

#include "io/internal/byte_source.h"

namespace ringmaster::io {

StatusOr<InputRecord> read_text(const std::string& path, int64_t max_tokens) {
  RM_ASSIGN_OR_RETURN(auto source, internal::open_byte_source(path, /*inflate_gzip=*/false,
                                                              internal::FileKinds::kRegular));
  const int64_t size = source->size_hint();  // known: a regular file
  if (max_tokens > 0 && size > max_tokens) {
    return invalid_argument(path + ": " + std::to_string(size) +
                            " bytes, more than the job's limit of " + std::to_string(max_tokens) +
                            " tokens (--max-tokens)");
  }
  if (size > kMaxRecordTokens) {
    return invalid_argument(path + ": " + std::to_string(size) + " bytes, more than the " +
                            std::to_string(kMaxRecordTokens) +
                            " tokens a record may hold (positions are int32)");
  }
  InputRecord record;
  const size_t slash = path.find_last_of('/');
  record.name = slash == std::string::npos ? path : path.substr(slash + 1);
  // The size is the bound: the record is allocated once, and a file that grows while it is read
  // (a log being written) is refused rather than followed.
  record.ids.resize(static_cast<size_t>(size));
  size_t got = 0;
  for (;;) {
    // One byte of room past the size, to see the end (or the growth).
    char extra = 0;
    char* dst = got < record.ids.size() ? reinterpret_cast<char*>(record.ids.data()) + got : &extra;
    const size_t room = got < record.ids.size() ? record.ids.size() - got : 1;
    RM_ASSIGN_OR_RETURN(const size_t n, source->read(dst, std::min<size_t>(room, 1 << 20)));
    if (n == 0) break;
    if (dst == &extra) {
      return invalid_argument(path + ": byte " + std::to_string(got) +
                              ": the file grew while it was being read");
    }
    got += n;
  }
  record.ids.resize(got);  // a file that shrank meanwhile is read as it now is
  if (record.ids.empty()) return invalid_argument(path + ": empty file");
  return record;
}

}  // namespace ringmaster::io
