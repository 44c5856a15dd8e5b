#include "io/input.h"

#include <algorithm>
#include <utility>

#include "io/fasta.h"
#include "io/text.h"

namespace ringmaster::io {

StatusOr<TokenStream> read_input(const std::string& path, Vocab vocab, int64_t max_tokens) {
  TokenStream stream(vocab);
  if (vocab == Vocab::kBytes) {
    RM_ASSIGN_OR_RETURN(InputRecord record, read_text(path, max_tokens));
    // Adopting the record would save the copy; the text reader already refused a file too long.
    stream.reserve(static_cast<int64_t>(record.ids.size()));
    RM_RETURN_IF_ERROR(stream.append(std::move(record.name), record.ids).with_context(path));
    return stream;
  }
  // The reader enforces the cap while reading, so no record grows past it.
  RM_ASSIGN_OR_RETURN(auto reader, FastaReader::open(path, max_tokens));
  // An uncompressed file holds at least one byte per input token, so its size bounds the stream;
  // reserving it avoids regrowth, and untouched capacity costs no RSS. With the record the
  // reader holds (also at most the file's size) that is S10's "twice the input's size".
  if (!reader->is_gzip() && reader->size_hint() > 0) {
    int64_t bound = reader->size_hint();
    if (max_tokens > 0) bound = std::min(bound, max_tokens);
    stream.reserve(bound);
  }
  InputRecord record;
  for (;;) {
    RM_ASSIGN_OR_RETURN(const bool more, reader->next(&record));
    if (!more) return stream;
    RM_RETURN_IF_ERROR(stream.append(std::move(record.name), record.ids).with_context(path));
  }
}

}  // namespace ringmaster::io
