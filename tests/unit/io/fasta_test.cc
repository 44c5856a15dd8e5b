#include "io/fasta.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "io/internal/byte_source.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const std::string kCorpus = std::string(RINGMASTER_SOURCE_DIR) + "/tests/data/fasta/";

std::string decode(const std::vector<uint8_t>& ids) {
  std::string text;
  for (const uint8_t id : ids) text.push_back(id < 5 ? "ACGTN"[id] : '?');
  return text;
}

// "ok name=SEQ ..." or "code message": the form of expected.tsv.
std::string describe(const StatusOr<std::vector<InputRecord>>& result) {
  if (!result.ok()) {
    return std::string(status_code_name(result.status().code())) + " " + result.status().message();
  }
  std::string text = "ok";
  for (const InputRecord& r : *result) text += " " + r.name + "=" + decode(r.ids);
  return text;
}

StatusOr<std::vector<InputRecord>> read_all(FastaReader& reader) {
  std::vector<InputRecord> records;
  for (;;) {
    InputRecord record;
    RM_ASSIGN_OR_RETURN(const bool more, reader.next(&record));
    if (!more) return records;
    records.push_back(std::move(record));
  }
}

// Parses in-memory bytes, `max_read` bytes per read, naming them "mem.fa".
StatusOr<std::vector<InputRecord>> parse(std::string_view bytes, size_t max_read = 1 << 30) {
  FastaReader reader(internal::memory_byte_source(bytes, "mem.fa", max_read), "mem.fa");
  return read_all(reader);
}

std::string parse_text(std::string_view bytes, size_t max_read = 1 << 30) {
  return describe(parse(bytes, max_read));
}

std::string gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes `bytes` to `name` in `dir`; the file's path.
std::string write_file(const TempDir& dir, const std::string& name, std::string_view bytes) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
  return path;
}

// expected.tsv: file -> "ok name=SEQ ..." or "code message" with {file} still in it.
std::map<std::string, std::string> load_expected() {
  std::map<std::string, std::string> expected;
  std::istringstream lines(read_file(kCorpus + "expected.tsv"));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab1 = line.find('\t');
    const size_t tab2 = line.find('\t', tab1 + 1);
    expected[line.substr(0, tab1)] =
        line.substr(tab1 + 1, tab2 - tab1 - 1) + " " + line.substr(tab2 + 1);
  }
  return expected;
}

std::string with_file(std::string text, const std::string& file) {
  const size_t at = text.find("{file}");
  if (at != std::string::npos) text.replace(at, 6, file);
  return text;
}

bool is_corpus_input(const std::string& name) {
  return name != "expected.tsv" && name != "make_corpus.py";
}

TEST(FastaCorpus, EveryFileGivesItsExpectedResult) {
  const auto expected = load_expected();
  ASSERT_GT(expected.size(), 30u);
  std::set<std::string> seen;
  for (const auto& entry : fs::directory_iterator(kCorpus)) {
    const std::string name = entry.path().filename().string();
    if (!is_corpus_input(name)) continue;
    seen.insert(name);
    const auto want = expected.find(name);
    ASSERT_NE(want, expected.end()) << name << " has no line in expected.tsv";
    const std::string path = kCorpus + name;
    EXPECT_EQ(describe(read_fasta(path)), with_file(want->second, path)) << name;
  }
  for (const auto& [name, _] : expected) EXPECT_TRUE(seen.count(name)) << name << " is missing";
}

// Chunk boundaries anywhere (between CR and LF, inside a name, inside a run of blanks) change
// nothing: the corpus read 1, 2, 3 and 7 bytes at a time gives the same answers.
TEST(FastaCorpus, ReadSizesDoNotMatter) {
  const auto expected = load_expected();
  for (const auto& [name, want] : expected) {
    const std::string bytes = read_file(kCorpus + name);
    for (const size_t max_read : {1, 2, 3, 7}) {
      EXPECT_EQ(parse_text(bytes, max_read), with_file(want, "mem.fa"))
          << name << " read " << max_read << " bytes at a time";
    }
  }
}

// Every byte value in the middle of a sequence line, against MODEL.md's table.
TEST(Fasta, MapsEveryByteAsTheModelSays) {
  const std::string upper_n = "NRYKMSWBDHV";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string got = parse_text(std::string(">r\nA") + c + "C\n");
    const char up = static_cast<char>(b >= 'a' && b <= 'z' ? b - 32 : b);
    std::string want;
    if (std::string("ACGT").find(up) != std::string::npos && up != '\0') {
      want = std::string("ok r=A") + up + "C";
    } else if (upper_n.find(up) != std::string::npos && up != '\0') {
      want = "ok r=ANC";
    } else if (c == '\n') {
      want = "ok r=AC";
    } else {
      char shown[8];
      if (c == '\t') {
        std::snprintf(shown, sizeof(shown), "\\t");
      } else if (c == '\r') {
        std::snprintf(shown, sizeof(shown), "\\r");
      } else if (b >= 0x20 && b < 0x7f) {
        std::snprintf(shown, sizeof(shown), "%c", c);
      } else {
        std::snprintf(shown, sizeof(shown), "\\x%02X", b);
      }
      want = std::string("invalid_argument mem.fa:2:2: invalid residue '") + shown + "'";
    }
    EXPECT_EQ(got, want) << "byte " << b;
  }
}

TEST(Fasta, CrlfLineNumbersCountLineFeeds) {
  EXPECT_EQ(parse_text(">r\r\nAC\r\n\r\nAX\r\n"),
            "invalid_argument mem.fa:4:2: invalid residue 'X'");
  EXPECT_EQ(parse_text(">r\r\nAC\r"), "ok r=AC");  // CR before the end of the file, too
}

TEST(Fasta, HugeSingleLinePlainAndGzip) {
  // 5 MB on one line, soft-masked in places: no line buffer, no quadratic work.
  constexpr size_t kBases = 5 << 20;
  std::mt19937 rng(3);
  std::string sequence(kBases, 'A');
  std::vector<uint8_t> want(kBases);
  const char letters[] = "ACGTNacgtnRy";
  const uint8_t ids[] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4};
  for (size_t i = 0; i < kBases; ++i) {
    const size_t k = rng() % 12;
    sequence[i] = letters[k];
    want[i] = ids[k];
  }
  const std::string fasta = ">big one line\n" + sequence + "\n>small\nAC\n";
  TempDir dir;
  for (const std::string& path :
       {write_file(dir, "big.fa", fasta), write_file(dir, "big.fa.gz", gzip(fasta))}) {
    auto records = read_fasta(path);
    ASSERT_TRUE(records.ok()) << records.status().to_string();
    ASSERT_EQ(records->size(), 2u);
    EXPECT_EQ((*records)[0].name, "big");
    EXPECT_TRUE((*records)[0].ids == want) << path;
    EXPECT_EQ(decode((*records)[1].ids), "AC");
  }
}

TEST(Fasta, HugeHeaderAndHugeBlankRuns) {
  const std::string megabyte_blanks(1 << 20, ' ');
  EXPECT_EQ(parse_text(">name " + std::string(5 << 20, 'd') + "\nAC\n"), "ok name=AC");
  EXPECT_EQ(parse_text(">r\nAC" + megabyte_blanks + "\t\r\nGT\n"), "ok r=ACGT");
  EXPECT_EQ(parse_text(">r\nAC" + megabyte_blanks + "G\n"),
            "invalid_argument mem.fa:2:3: invalid residue ' '");
  // The column of a late error is exact, past any 32-bit-unsafe arithmetic on chunk offsets.
  EXPECT_EQ(parse_text(">r\n" + std::string(3 << 20, 'A') + "!\n", 4096),
            "invalid_argument mem.fa:2:" + std::to_string((3 << 20) + 1) + ": invalid residue '!'");
}

// Parses in-memory bytes as parse() does, with the job's --max-tokens.
std::string parse_capped(std::string_view bytes, int64_t max_tokens, size_t max_read = 1 << 30) {
  FastaReader reader(internal::memory_byte_source(bytes, "mem.fa", max_read), "mem.fa", max_tokens);
  return describe(read_all(reader));
}

// A name of kMaxRecordNameBytes is kept; one byte more is refused at that byte, whatever the
// read sizes.
TEST(FastaLimits, RecordNameIsCapped) {
  const std::string longest(kMaxRecordNameBytes, 'n');
  EXPECT_EQ(parse_text(">" + longest + " desc\nAC\n"), "ok " + longest + "=AC");
  const std::string expected =
      "invalid_argument mem.fa:3:" + std::to_string(kMaxRecordNameBytes + 2) +
      ": record name longer than 4096 bytes";
  for (const size_t max_read : {size_t{1} << 30, size_t{1}, size_t{1000}}) {
    EXPECT_EQ(parse_text(">a\nA\n>" + longest + "n\nAC\n", max_read), expected) << max_read;
  }
  // A name that never ends (no whitespace, no newline) stops at the cap too.
  EXPECT_EQ(parse_text(">" + std::string(1 << 20, 'n')),
            "invalid_argument mem.fa:1:4098: record name longer than 4096 bytes");
}

// --max-tokens counts the bases of all records; the error names the record and the first base
// past the cap (line and column), whatever the read sizes.
TEST(FastaLimits, MaxTokensStopsAtTheFirstBasePastIt) {
  const std::string fasta = ">a x\nACGT\nAC\n>b\nGG\n";  // a: 6 bases, b: 2
  for (const size_t max_read : {size_t{1} << 30, size_t{1}, size_t{3}}) {
    EXPECT_EQ(parse_capped(fasta, 8, max_read), "ok a=ACGTAC b=GG");
    EXPECT_EQ(parse_capped(fasta, 0, max_read), "ok a=ACGTAC b=GG");  // 0: no cap
    EXPECT_EQ(parse_capped(fasta, 7, max_read),
              "invalid_argument mem.fa:5:2: record 2 ('b') passes the job's limit of 7 tokens "
              "(--max-tokens)");
    EXPECT_EQ(parse_capped(fasta, 5, max_read),
              "invalid_argument mem.fa:3:2: record 1 ('a') passes the job's limit of 5 tokens "
              "(--max-tokens)");
  }
}

// Serves ">endless\n" and then 'A' forever: a reader that read a record whole before checking
// its length would never return.
class EndlessRecord final : public internal::ByteSource {
 public:
  StatusOr<size_t> read(char* dst, size_t capacity) override {
    for (size_t i = 0; i < capacity; ++i, ++served_) {
      dst[i] = served_ < kHead.size() ? kHead[served_] : 'A';
    }
    return capacity;
  }
  static constexpr std::string_view kHead = ">endless\n";

 private:
  size_t served_ = 0;
};

TEST(FastaLimits, AnEndlessRecordStopsAtTheCapWhileBeingRead) {
  FastaReader reader(std::make_unique<EndlessRecord>(), "endless.fa", 1000);
  InputRecord record;
  const auto result = reader.next(&record);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "endless.fa:2:1001: record 1 ('endless') passes the job's limit of 1000 tokens "
            "(--max-tokens)");
  EXPECT_LE(record.ids.size(), 1000u);  // nothing past the cap was kept
}

// Devices never end: /dev/zero is refused at once, naming the file; pipes are still read
// (Fasta.ReadsGzipFromAPipe).
TEST(FastaLimits, DevicesAreRefused) {
  const auto zero = FastaReader::open("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(),
            "/dev/zero: neither a regular file nor a pipe (a character device)");
}

// A gzip bomb: 64 members of 16 MiB of 'A' each, 1 GiB from about 1 MB. Inflation stops at
// kMaxInflateRatio times the file's size plus the margin, long before the 1 GiB, and the record
// holds no more than that.
TEST(FastaLimits, GzipBombStopsAtTheInflateCap) {
  const std::string member = gzip(std::string(16 << 20, 'A'));
  std::string bomb = gzip(">bomb\n");
  for (int i = 0; i < 64; ++i) bomb += member;
  TempDir dir;
  const std::string path = write_file(dir, "bomb.fa.gz", bomb);
  auto reader = FastaReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  InputRecord record;
  const auto result = (*reader)->next(&record);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  const uint64_t limit = internal::kMaxInflateRatio * bomb.size() + internal::kInflateSlackBytes;
  const std::string& message = result.status().message();
  EXPECT_EQ(message.rfind(path + ": compressed byte ", 0), 0u) << message;
  EXPECT_NE(message.find(": gzip data inflates past " + std::to_string(limit) +
                         " bytes, 64 times the compressed file plus a margin (a decompression "
                         "bomb? decompress a genuine file first)"),
            std::string::npos)
      << message;
  EXPECT_LT(limit, uint64_t{1} << 27);  // the test means something: far below the 1 GiB
  EXPECT_LE(record.ids.size(), limit);
  EXPECT_LE(record.ids.capacity(), 2 * limit);
  // The same bytes as a genuine file: a compression ratio inside the cap reads through.
  const std::string fine = gzip(">fine\n" + std::string(1 << 20, 'A') + "\n");
  auto ok = read_fasta(write_file(dir, "fine.fa.gz", fine));
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ((*ok)[0].ids.size(), size_t{1} << 20);
}

// A gzip cut anywhere never yields fewer bases: every cut is data loss.
TEST(Fasta, GzipCutAnywhereIsDataLoss) {
  const std::string fasta = ">a desc\nACGTACGTNN\nacgt\n>b\nGGGGCCCC\n";
  const std::string gz = gzip(fasta);
  for (size_t cut = 2; cut < gz.size(); ++cut) {
    const auto result = parse(std::string_view(gz).substr(0, cut));
    ASSERT_FALSE(result.ok()) << "cut at " << cut;
    EXPECT_EQ(result.status().code(), StatusCode::kDataLoss) << result.status().to_string();
    EXPECT_EQ(result.status().message().rfind("mem.fa: ", 0), 0u) << result.status().message();
  }
  EXPECT_EQ(parse_text(gz), "ok a=ACGTACGTNNACGT b=GGGGCCCC");
}

TEST(Fasta, NextStreamsRecordsThenFalseAndErrorsStick) {
  auto reader = FastaReader::from_bytes(">a\nAC\n>b\nG\n", "mem.fa");
  InputRecord record;
  ASSERT_TRUE(*reader->next(&record));
  EXPECT_EQ(record.name, "a");
  EXPECT_EQ(decode(record.ids), "AC");
  ASSERT_TRUE(*reader->next(&record));  // the record is replaced, not appended to
  EXPECT_EQ(record.name, "b");
  EXPECT_EQ(decode(record.ids), "G");
  EXPECT_FALSE(*reader->next(&record));
  EXPECT_FALSE(*reader->next(&record));

  auto bad = FastaReader::from_bytes(">a\nAC\n>b\nG?\n", "mem.fa");
  ASSERT_TRUE(*bad->next(&record));
  const auto first = bad->next(&record);
  const auto second = bad->next(&record);
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(first.status().message(), "mem.fa:4:2: invalid residue '?'");
  EXPECT_EQ(second.status().message(), first.status().message());
}

TEST(Fasta, ReportsGzipAndSizeHint) {
  TempDir dir;
  auto plain = FastaReader::open(write_file(dir, "p.fa", ">a\nAC\n"));
  auto packed = FastaReader::open(write_file(dir, "p.txt", gzip(">a\nAC\n")));
  ASSERT_TRUE(plain.ok() && packed.ok());
  EXPECT_FALSE((*plain)->is_gzip());
  EXPECT_EQ((*plain)->size_hint(), 6);
  EXPECT_TRUE((*packed)->is_gzip());
}

TEST(Fasta, MissingFileAndDirectoryNameThePath) {
  const auto missing = read_fasta("/nonexistent/genome.fa");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message().rfind("/nonexistent/genome.fa: ", 0), 0u);
  TempDir dir;
  const auto directory = read_fasta(dir.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message().rfind(dir.path().string() + ": ", 0), 0u);
}

// Pipes cannot seek: the gzip sniff must push its bytes back, not re-read them.
TEST(Fasta, ReadsGzipFromAPipe) {
  TempDir dir;
  const std::string fifo = dir.path().string() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string gz = gzip(">piped\nACGTN\n");
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    for (const char c : gz) (void)!::write(fd, &c, 1);  // one byte at a time
    ::close(fd);
  });
  const std::string got = describe(read_fasta(fifo));
  writer.join();
  EXPECT_EQ(got, "ok piped=ACGTN");
}

}  // namespace
}  // namespace ringmaster::io
