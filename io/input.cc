#include "io/input.h"

#include <utility>

#include "io/fasta.h"
#include "io/text.h"

namespace ringmaster::io {

namespace {

Status check_cap(const std::string& path, const TokenStream& stream, int64_t max_tokens) {
  if (max_tokens <= 0 || stream.num_input_tokens() <= max_tokens) return ok_status();
  return invalid_argument(path + ": record " + std::to_string(stream.num_records()) + " ('" +
                          stream.records().back().name + "') brings the input to " +
                          std::to_string(stream.num_input_tokens()) +
                          " tokens, more than the job's limit of " + std::to_string(max_tokens) +
                          " (--max-tokens)");
}

}  // namespace

StatusOr<TokenStream> read_input(const std::string& path, Vocab vocab, int64_t max_tokens) {
  TokenStream stream(vocab);
  if (vocab == Vocab::kBytes) {
    RM_ASSIGN_OR_RETURN(InputRecord record, read_text(path));
    stream.reserve(static_cast<int64_t>(record.ids.size()) + 1);
    RM_RETURN_IF_ERROR(stream.append(std::move(record.name), record.ids).with_context(path));
    RM_RETURN_IF_ERROR(check_cap(path, stream, max_tokens));
    return stream;
  }
  RM_ASSIGN_OR_RETURN(auto reader, FastaReader::open(path));
  // An uncompressed file holds at least one byte per fed token ('>' pays for each <bos>), so its
  // size bounds the stream; reserving it avoids regrowth, and untouched capacity costs no RSS.
  if (!reader->is_gzip() && reader->size_hint() > 0) stream.reserve(reader->size_hint());
  InputRecord record;
  for (;;) {
    RM_ASSIGN_OR_RETURN(const bool more, reader->next(&record));
    if (!more) return stream;
    RM_RETURN_IF_ERROR(stream.append(std::move(record.name), record.ids).with_context(path));
    RM_RETURN_IF_ERROR(check_cap(path, stream, max_tokens));
  }
}

}  // namespace ringmaster::io
