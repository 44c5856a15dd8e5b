// fuzz/fasta_fuzz.cc: the FASTA reader (io/fasta.h) over arbitrary bytes, plain or gzip
// (RELIABILITY.md S10). Beyond "no crash, no leak, no UB" it checks two properties:
//   - every record has a name and only dna ids A C G T N (0..4);
//   - for plain input, reading in chunks of 1 to 8 bytes gives the same records and the same
//     error as reading the whole buffer at once: the reader's state machine carries CR, spaces
//     and headers across chunk boundaries, which is where a streaming parser goes wrong.
// Gzip input is read once: where a corrupt stream is detected depends on how much compressed
// input zlib was given, so the first error may rightly differ between chunkings.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/fasta.h"
#include "io/internal/byte_source.h"

namespace ringmaster::io {
namespace {

struct Outcome {
  std::vector<InputRecord> records;
  std::string error;  // empty when every record was read
};

Outcome read_all(FastaReader& reader) {
  Outcome out;
  for (;;) {
    InputRecord record;
    StatusOr<bool> more = reader.next(&record);
    if (!more.ok()) {
      out.error = more.status().to_string();
      return out;
    }
    if (!*more) return out;
    out.records.push_back(std::move(record));
  }
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fasta_fuzz: %s\n", what);
  std::abort();
}

void check_records(const Outcome& outcome) {
  for (const InputRecord& record : outcome.records) {
    if (record.name.empty()) fail("a record without a name");
    if (record.ids.empty()) fail("a record without sequence");
    for (const uint8_t id : record.ids) {
      if (id > 4) fail("an id outside A C G T N");
    }
  }
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.error != b.error || a.records.size() != b.records.size()) return false;
  for (size_t i = 0; i < a.records.size(); ++i) {
    if (a.records[i].name != b.records[i].name || a.records[i].ids != b.records[i].ids) {
      return false;
    }
  }
  return true;
}

// Reads `bytes` as a whole, then (plain input only) in chunks, and compares.
void fuzz_one(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<FastaReader> whole = FastaReader::from_bytes(bytes, "fuzz.fa");
  const Outcome expected = read_all(*whole);
  check_records(expected);
  if (whole->is_gzip()) return;

  // The chunk size comes from the input, so the fuzzer explores it along with the content.
  const size_t chunk = size == 0 ? 1 : 1 + data[size - 1] % 8;
  FastaReader chunked(internal::memory_byte_source(bytes, "fuzz.fa", chunk), "fuzz.fa");
  if (!same(expected, read_all(chunked))) fail("chunked reading disagrees with whole reading");
}

}  // namespace
}  // namespace ringmaster::io

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringmaster::io::fuzz_one(data, size);
  return 0;
}
