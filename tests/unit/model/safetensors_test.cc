#include "model/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/tensor_names.h"
#include "tests/testing/temp_dir.h"

namespace ringmaster::model {
namespace {

using testing::TempDir;

Tensor f32_tensor(Shape shape, float start, float step) {
  Tensor t = Tensor::empty(std::move(shape), DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + step * static_cast<float>(i);
  return t;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A file with an 8-byte length `header_length` (default: the header's size), `header`, `data`.
std::string write_raw(const TempDir& dir, const std::string& header, const std::string& data,
                      uint64_t header_length = std::numeric_limits<uint64_t>::max()) {
  const std::string path = dir.file("weights.safetensors");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint64_t n =
      header_length == std::numeric_limits<uint64_t>::max() ? header.size() : header_length;
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
  return path;
}

// Eight bytes: two f32 values, 1.0 and 2.0.
std::string two_floats() {
  const float values[2] = {1.0f, 2.0f};
  return std::string(reinterpret_cast<const char*>(values), sizeof values);
}

// The message of opening `path`, which must fail with one line naming the file.
std::string open_error(const std::string& path) {
  auto file = WeightFile::open(path);
  EXPECT_FALSE(file.ok());
  if (file.ok()) return "";
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = file.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
  return message.substr(std::min(message.size(), path.size() + 2));
}

TEST(Safetensors, RoundTripsMixedDtypes) {
  TempDir dir;
  const Tensor a = f32_tensor({2, 3}, -1.5f, 0.75f);
  const Tensor b = narrow_to(f32_tensor({4}, 0.1f, 1.0f / 3.0f), DType::kBf16);
  const Tensor c = narrow_to(f32_tensor({2, 2}, -0.3f, 0.2f), DType::kF16);
  const Tensor empty = Tensor::empty({0, 5}, DType::kF32);
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(
      write_safetensors(path, {{"z.a", a}, {"b", b}, {"c", c}, {"e", empty}}, {{"note", "x"}})
          .ok());
  auto file = WeightFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(file->names(), (std::vector<std::string>{"b", "c", "e", "z.a"}));
  EXPECT_EQ(file->metadata(), (std::map<std::string, std::string>{{"note", "x"}}));
  for (const auto& [name, original] :
       std::vector<std::pair<std::string, Tensor>>{{"z.a", a}, {"b", b}, {"c", c}, {"e", empty}}) {
    const Tensor& stored = file->tensor(name);
    EXPECT_EQ(stored.dtype(), original.dtype()) << name;  // views stay narrow
    EXPECT_EQ(stored.shape(), original.shape()) << name;
    EXPECT_EQ(std::memcmp(stored.raw(), original.raw(), original.bytes()), 0) << name;
    const Tensor wide = file->f32(name);
    const Tensor expected = to_f32(original);
    ASSERT_EQ(wide.dtype(), DType::kF32);
    for (int64_t i = 0; i < wide.numel(); ++i) {
      EXPECT_EQ(wide.data<float>()[i], expected.data<float>()[i]) << name << " " << i;
    }
  }
  EXPECT_EQ(file->find("missing"), nullptr);
  EXPECT_FALSE(file->contains("missing"));
}

TEST(Safetensors, WritesThePythonLibraryLayout) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"b", f32_tensor({3}, 0, 1)},
                                       {"a", narrow_to(f32_tensor({1}, 0, 1), DType::kBf16)}})
                  .ok());
  const std::string bytes = read_all(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // data starts 8-byte aligned
  const std::string header = bytes.substr(8, n);
  const std::string json = R"({"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                           R"("b":{"dtype":"F32","shape":[3],"data_offsets":[2,14]}})";
  ASSERT_EQ(n, (json.size() + 7) / 8 * 8);
  EXPECT_EQ(header, json + std::string(n - json.size(), ' '));  // padded with spaces
  EXPECT_EQ(bytes.size(), 8 + n + 14);
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST(Safetensors, ViewsAreMappedNotCopied) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"x", f32_tensor({64, 64}, 0, 1)},
                                       {"y", narrow_to(f32_tensor({7}, 0, 1), DType::kF16)}})
                  .ok());
  Tensor view;
  {
    auto file = WeightFile::open(path);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    const Buffer& mapping = *file->mapping();
    EXPECT_FALSE(mapping.writable());
    EXPECT_EQ(mapping.bytes(), read_all(path).size());
    for (const std::string& name : file->names()) {
      const Tensor& t = file->tensor(name);
      EXPECT_EQ(t.buffer(), file->mapping()) << name;
      const auto* p = static_cast<const std::byte*>(t.raw());
      EXPECT_GE(p, mapping.data());
      EXPECT_LE(p + t.bytes(), mapping.data() + mapping.bytes());
    }
    // An f32 tensor widens to itself: still the mapping.
    EXPECT_EQ(file->f32("x").raw(), file->tensor("x").raw());
    view = file->tensor("x");
  }
  // The view keeps the mapping alive after the WeightFile is gone.
  const Tensor& read_only = view;
  EXPECT_EQ(read_only.data<float>()[4095], 4095.0f);
}

TEST(Safetensors, MisalignedTensorsAreCopiedAligned) {
  TempDir dir;
  // A 5-byte header padding-free writer would produce: data starts at file byte 8 + 57.
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  const std::string path = write_raw(dir, header, two_floats());
  auto file = WeightFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  const Tensor& a = file->tensor("a");
  EXPECT_NE(a.buffer(), file->mapping());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw()) % 4, 0u);
  EXPECT_EQ(a.data<float>()[0], 1.0f);
  EXPECT_EQ(a.data<float>()[1], 2.0f);
}

TEST(Safetensors, AnEmptyFileOfTensorsIsValid) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(write_safetensors(path, {}).ok());
  auto file = WeightFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(file->size(), 0u);
}

TEST(Safetensors, WriterIsAtomicAndRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"a", f32_tensor({2}, 0, 1)}}).ok());
  ASSERT_TRUE(write_safetensors(path, {{"b", f32_tensor({3}, 0, 1)}}).ok());  // replaces
  auto file = WeightFile::open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->names(), (std::vector<std::string>{"b"}));

  const Tensor t = f32_tensor({1}, 0, 1);
  Tensor i32 = Tensor::empty({1}, DType::kI32);
  EXPECT_EQ(write_safetensors(path, {{"a", t}, {"a", t}}).message(),
            path + ": tensor 'a' given twice");
  EXPECT_EQ(write_safetensors(path, {{"__metadata__", t}}).message(),
            path + ": '__metadata__' is not a tensor name");
  EXPECT_EQ(write_safetensors(path, {{"n", i32}}).message(),
            path + ": tensor 'n' is i32[1] on cpu; safetensors output takes host f32, bf16 or f16");
  EXPECT_EQ(write_safetensors(path, {{"bad\xff", t}}).message(),
            path + ": name 'bad\\xff' is not valid UTF-8");
  EXPECT_EQ(write_safetensors(dir.file("no/such/dir/w.safetensors"), {{"a", t}}).code(),
            StatusCode::kNotFound);
  // Failed writes left the old file and no temporary behind.
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"w.safetensors"}));
  EXPECT_TRUE(WeightFile::open(path).ok());
}

TEST(SafetensorsRejects, BadHeaderLength) {
  TempDir dir;
  const std::string path = dir.file("weights.safetensors");
  std::ofstream(path, std::ios::binary) << "abc";
  EXPECT_EQ(open_error(path),
            "byte 0: the file is 3 bytes, too short for the 8-byte header length");
  write_raw(dir, "{}", "", (16 << 20) + 1);
  EXPECT_EQ(open_error(path), "byte 0: header length 16777217 exceeds the 16777216-byte limit");
  write_raw(dir, "{}", "", 100'000'000);  // the Python library's limit is no longer ours
  EXPECT_EQ(open_error(path), "byte 0: header length 100000000 exceeds the 16777216-byte limit");
  write_raw(dir, "{}", "", uint64_t{1} << 62);
  EXPECT_EQ(open_error(path),
            "byte 0: header length 4611686018427387904 exceeds the 16777216-byte limit");
  write_raw(dir, "{}", "", 3);
  EXPECT_EQ(open_error(path), "byte 0: header length 3 runs past the end of the file (10 bytes)");
}

// A header of exactly the cap is parsed (here: "{}" and spaces, a file with no tensors).
TEST(SafetensorsLimits, HeaderOfExactlyTheCapIsRead) {
  TempDir dir;
  std::string header = "{}";
  header.resize(kMaxSafetensorsHeaderBytes, ' ');
  auto file = WeightFile::open(write_raw(dir, header, ""));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(file->size(), 0u);
}

// The cap must hold the header of the largest model a config.json may describe: kMaxLayers
// blocks of each kind, every dimension and offset at its widest, written with the Python
// library's spacing. The bound is computed from expected_tensors, so a new tensor kind that
// grows headers past the cap fails here rather than in a user's job.
TEST(SafetensorsLimits, LargestLegalModelHeaderFitsTheCap) {
  auto config_with = [](std::vector<BlockConfig> blocks) {
    ModelConfig c;
    c.d_model = c.n_heads = c.n_kv_heads = c.head_dim = c.mlp_hidden = 1;
    c.blocks = std::move(blocks);
    return c;
  };
  BlockConfig atlas;
  atlas.mixer = MixerKind::kAtlas;
  atlas.feature_degree = 1;
  BlockConfig fit;
  fit.mixer = MixerKind::kFit;
  fit.global_layers = kMaxLayers - 1;  // blocks plus FIT global layers are at most kMaxLayers
  const std::vector<ModelConfig> largest = {
      config_with(std::vector<BlockConfig>(kMaxLayers, BlockConfig{})),
      config_with(std::vector<BlockConfig>(kMaxLayers, atlas)), config_with({fit})};
  const std::string widest_dim = std::to_string(kMaxConfigInt);
  const std::string widest_offset = std::to_string(kMaxParams * 4);  // f32
  uint64_t most = 0;
  for (const ModelConfig& c : largest) {
    uint64_t bytes = 2;  // {}
    for (const TensorSpec& spec : expected_tensors(c)) {
      std::string shape;
      for (size_t d = 0; d < spec.shape.size(); ++d) shape += (d ? ", " : "") + widest_dim;
      bytes += ("\"" + spec.name + "\": {\"dtype\": \"BF16\", \"shape\": [" + shape +
                "], \"data_offsets\": [" + widest_offset + ", " + widest_offset + "]}, ")
                   .size();
    }
    most = std::max(most, bytes);
  }
  EXPECT_GT(most, uint64_t{4} << 20);  // the bound is a real one (about 6.5 MB)
  EXPECT_LE(2 * most, kMaxSafetensorsHeaderBytes) << most << " bytes";
}

// The weights are mapped and checked once; a file edited in place, resized or replaced during a
// job is caught by check_unchanged, naming the file and what changed.
TEST(SafetensorsLimits, ChangedFileIsCaughtAfterOpen) {
  TempDir dir;
  const std::string path = dir.file("weights.safetensors");
  const std::vector<std::pair<std::string, Tensor>> tensors = {{"a", f32_tensor({4}, 1, 1)}};
  auto reopen = [&] {
    EXPECT_TRUE(write_safetensors(path, tensors).ok());
    auto file = WeightFile::open(path);
    EXPECT_TRUE(file.ok()) << file.status().to_string();
    EXPECT_TRUE(file->check_unchanged().ok());
    return std::move(file).value();
  };
  auto expect_changed = [&](const WeightFile& file, const std::string& how) {
    const Status status = file.check_unchanged();
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(status.message(), path + ": the weights file changed during the job (" + how +
                                    "); the loaded weights no longer match it. Leave the model "
                                    "directory alone while a job runs");
  };

  {  // One byte edited in place: same inode and size, a new modification time. The time is set
     // explicitly, since two writes within a clock tick may share one.
    WeightFile file = reopen();
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "\x7f", 1, static_cast<off_t>(file.mapping()->bytes() - 1)), 1);
    const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};
    ASSERT_EQ(::futimens(fd, times), 0);
    ::close(fd);
    expect_changed(file, "it was modified since it was opened");
  }
  {  // Grown.
    WeightFile file = reopen();
    std::ofstream(path, std::ios::binary | std::ios::app) << "x";
    expect_changed(file, "its size went from " + std::to_string(file.stamp().bytes) + " to " +
                             std::to_string(file.stamp().bytes + 1) + " bytes");
  }
  {  // Replaced by a rename, as an atomic writer does: the mapping is intact but stale.
    WeightFile file = reopen();
    ASSERT_TRUE(write_safetensors(path, {{"a", f32_tensor({4}, 2, 1)}}).ok());
    expect_changed(file, "it was replaced by another file");
  }
  {  // Removed.
    WeightFile file = reopen();
    ASSERT_EQ(::unlink(path.c_str()), 0);
    const Status status = file.check_unchanged();
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(status.message().find("changed during the job (it can no longer be read: "),
              std::string::npos)
        << status.message();
  }
  // Reading the mapping does not count as a change.
  WeightFile file = reopen();
  EXPECT_EQ(file.f32("a").const_data<float>()[3], 4.0f);
  EXPECT_TRUE(file.check_unchanged().ok());
}

TEST(SafetensorsRejects, BadJson) {
  TempDir dir;
  std::string path = write_raw(dir, R"({"a":{"dtype":"F32" "shape":[2]}})", "");
  // The parser stops at the end of the token it did not expect: "shape" ends at header byte 26.
  EXPECT_EQ(open_error(path).rfind("byte 34: header: invalid JSON: syntax error", 0), 0u)
      << open_error(path);
  path = write_raw(dir, "", "");
  EXPECT_EQ(open_error(path).rfind("byte 8: header: invalid JSON", 0), 0u);
  path = write_raw(dir, "[]", "");
  EXPECT_EQ(open_error(path), "byte 8: header: expected a JSON object, got an array");
  path = write_raw(dir,
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   two_floats());
  EXPECT_EQ(open_error(path), "header: duplicate key 'a'");
  path = write_raw(dir, R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   two_floats());
  EXPECT_EQ(open_error(path), "header entry 'a': duplicate key 'dtype'");
}

TEST(SafetensorsRejects, BadEntries) {
  TempDir dir;
  auto entry = [&](const std::string& body) {
    return write_raw(dir, R"({"w":)" + body + "}", two_floats());
  };
  EXPECT_EQ(open_error(entry("[1]")), "tensor 'w': expected an object, got an array");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})")),
            "tensor 'w': unknown key 'x' (entries have dtype, shape, data_offsets)");
  EXPECT_EQ(open_error(entry(R"({"shape":[2],"data_offsets":[0,8]})")),
            "tensor 'w': missing 'dtype'");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})")),
            "tensor 'w': unknown dtype 'F64' (model weights are F32, BF16 or F16)");
  EXPECT_EQ(open_error(entry(R"({"dtype":"I32","shape":[2],"data_offsets":[0,8]})")),
            "tensor 'w': unknown dtype 'I32' (model weights are F32, BF16 or F16)");
  EXPECT_EQ(open_error(entry(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})")),
            "tensor 'w': unknown dtype 'f32' (model weights are F32, BF16 or F16)");
  EXPECT_EQ(open_error(entry(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})")),
            "tensor 'w': 'dtype' is 4, not a string");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})")),
            "tensor 'w': 'shape' [-2] holds something other than a size >= 0");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})")),
            "tensor 'w': 'shape' [2.0] holds something other than a size >= 0");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})")),
            "tensor 'w': 'shape' is 2, not an array");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})")),
            "tensor 'w': 'data_offsets' is [0,8,9], not [begin, end] with sizes >= 0");
  EXPECT_EQ(open_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})")),
            "tensor 'w': data_offsets [8, 0] end before they begin");
}

TEST(SafetensorsRejects, OffsetsThatBreakTheRules) {
  TempDir dir;
  // Byte offsets in errors are absolute: the data starts at file byte 8 + header size.
  auto at = [](const std::string& header, uint64_t data_byte) {
    return std::to_string(8 + header.size() + data_byte);
  };
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}})";
  std::string path = write_raw(dir, header, two_floats());
  EXPECT_EQ(open_error(path),
            "tensor 'w': data_offsets [0, 80] run past the end of the file: "
            "file bytes [" +
                at(header, 0) + ", " + at(header, 80) + ") but the file ends at byte " +
                at(header, 8));
  header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  path = write_raw(dir, header, two_floats());
  EXPECT_EQ(open_error(path), "tensor 'w': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12");
  header = R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})";
  path = write_raw(dir, header, two_floats());
  EXPECT_EQ(open_error(path),
            "tensor 'w': data_offsets [0, 8] hold 8 bytes but F32 [4611686018427387904, 4] needs "
            "more than 2^63");

  const std::string two = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[)";
  header = two + "2,6]}}";
  path = write_raw(dir, header, two_floats());
  EXPECT_EQ(open_error(path), "tensors 'a' (file bytes [" + at(header, 0) + ", " + at(header, 4) +
                                  ")) and 'b' (file bytes [" + at(header, 2) + ", " +
                                  at(header, 6) + ")) overlap");
  header = two + "6,10]}}";
  path = write_raw(dir, header, two_floats() + "xx");
  EXPECT_EQ(open_error(path),
            "byte " + at(header, 4) + ": gap of 2 bytes between tensors 'a' and 'b'");
  header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  path = write_raw(dir, header, two_floats());
  EXPECT_EQ(open_error(path),
            "byte " + at(header, 0) + ": gap of 4 bytes before the first tensor 'a'");
  header = two + "4,8]}}";
  path = write_raw(dir, header, two_floats() + "xyz");
  EXPECT_EQ(open_error(path),
            "byte " + at(header, 8) + ": 3 trailing bytes after the last tensor 'b'");
  path = write_raw(dir, "{}", "junk");
  EXPECT_EQ(open_error(path), "byte 10: 4 trailing bytes after a header with no tensors");
}

TEST(SafetensorsRejects, BadMetadata) {
  TempDir dir;
  std::string path = write_raw(dir, R"({"__metadata__":{"step":5}})", "");
  EXPECT_EQ(open_error(path),
            "header: '__metadata__' maps strings to strings, but 'step' is an integer");
  path = write_raw(dir, R"({"__metadata__":[]})", "");
  EXPECT_EQ(open_error(path), "header: '__metadata__' is not an object");
}

TEST(SafetensorsRejects, NonFiniteWeightsNamingTheElement) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  Tensor a = f32_tensor({3, 4}, 0, 1);
  a.data<float>()[6] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(write_safetensors(path, {{"a", a}}).ok());
  // Header of 64 bytes: data at byte 72, element 6 at 72 + 24.
  EXPECT_EQ(open_error(path), "tensor 'a': element 6 (index [1, 2], file byte 96) is NaN");

  Tensor b = f32_tensor({5}, 0, 1);
  b.data<float>()[4] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(write_safetensors(path, {{"b", narrow_to(b, DType::kBf16)}}).ok());
  EXPECT_NE(open_error(path).find("tensor 'b': element 4 (index [4], file byte"),
            std::string::npos);
  EXPECT_NE(open_error(path).find(") is +inf"), std::string::npos);

  Tensor c = f32_tensor({2, 1, 2}, 0, 1);
  c.data<float>()[3] = -1e30f;  // overflows f16 to -inf
  ASSERT_TRUE(
      write_safetensors(path, {{"ok", f32_tensor({2}, 0, 1)}, {"c", narrow_to(c, DType::kF16)}})
          .ok());
  const std::string message = open_error(path);
  EXPECT_NE(message.find("tensor 'c': element 3 (index [1, 0, 1]"), std::string::npos) << message;
  EXPECT_NE(message.find(") is -inf"), std::string::npos) << message;
}

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab = Vocab::kDna;
  c.d_model = 4;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 2;
  c.mlp_hidden = 6;
  c.norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.blocks = {BlockConfig{.mixer = MixerKind::kWindow, .window = 3}};
  RM_CHECK(validate_config(c, "tiny").ok());
  return c;
}

std::vector<std::pair<std::string, Tensor>> tensors_for(const ModelConfig& c) {
  std::vector<std::pair<std::string, Tensor>> out;
  float start = 0;
  for (const TensorSpec& spec : expected_tensors(c)) {
    out.emplace_back(spec.name, f32_tensor(spec.shape, start, 0.01f));
    start += 1;
  }
  return out;
}

TEST(SafetensorsCheck, AgainstTheConfig) {
  TempDir dir;
  const std::string path = dir.file("weights.safetensors");
  const ModelConfig c = tiny_config();
  auto tensors = tensors_for(c);
  ASSERT_TRUE(write_safetensors(path, tensors).ok());
  auto file = WeightFile::open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->check_against(c).ok());

  auto renamed = tensors;
  for (auto& [name, t] : renamed) {
    if (name == "blocks.0.mlp.w_gate") name = "blocks.0.mlp.gate";
  }
  renamed.emplace_back("extra", f32_tensor({1}, 0, 1));
  ASSERT_TRUE(write_safetensors(path, renamed).ok());
  EXPECT_EQ(WeightFile::open(path)->check_against(c).message(),
            path +
                ": missing tensor 'blocks.0.mlp.w_gate' [6, 4]; unexpected tensor "
                "'blocks.0.mlp.gate' and 1 more unexpected");

  auto extra = tensors;
  extra.emplace_back("blocks.1.norm1", f32_tensor({4}, 0, 1));
  ASSERT_TRUE(write_safetensors(path, extra).ok());
  EXPECT_EQ(WeightFile::open(path)->check_against(c).message(),
            path + ": unexpected tensor 'blocks.1.norm1' (not in the config's tensor list)");

  auto missing = tensors;
  missing.pop_back();
  missing.pop_back();
  ASSERT_TRUE(write_safetensors(path, missing).ok());
  EXPECT_EQ(WeightFile::open(path)->check_against(c).message(),
            path + ": missing tensor 'norm' [4] and 1 more missing");

  auto reshaped = tensors;
  for (auto& [name, t] : reshaped) {
    if (name == "blocks.0.attn.wk") t = t.reshape({4, 2});  // [kv_dim, d_model] is [2, 4]
  }
  ASSERT_TRUE(write_safetensors(path, reshaped).ok());
  EXPECT_EQ(WeightFile::open(path)->check_against(c).message(),
            path +
                ": tensor 'blocks.0.attn.wk': shape [4, 2] does not match [2, 4] from the "
                "config");
}

// The cross-check with an independent reader: numpy only (the safetensors package is not
// installed), parsing the header by hand as MODEL.md describes it.
constexpr const char* kNumpyReader = R"(
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert n % 8 == 0, n
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
spans = sorted(tuple(e['data_offsets']) for k, e in header.items() if k != '__metadata__')
end = 0
for b, e in spans:
    assert b == end, (b, end)
    end = e
assert end == len(data), (end, len(data))
out = {}
for name, e in header.items():
    if name == '__metadata__':
        out[name] = e
        continue
    b, en = e['data_offsets']
    buf = data[b:en]
    if e['dtype'] == 'BF16':
        a = (np.frombuffer(buf, dtype='<u2').astype(np.uint32) << 16).view(np.float32)
    else:
        a = np.frombuffer(buf, dtype={'F32': '<f4', 'F16': '<f2'}[e['dtype']]).astype(np.float32)
    a = a.reshape(e['shape'])
    out[name] = {'dtype': e['dtype'], 'shape': list(a.shape),
                 'values': [float(x) for x in a.reshape(-1)]}
print(json.dumps(out))
)";

TEST(Safetensors, NumpyReadsWhatWeWrite) {
  if (::access("/usr/bin/python3", X_OK) != 0 ||
      std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
    GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  }
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"blocks.0.f32", f32_tensor({3, 5}, -2.0f, 0.3f)},
      {"a.bf16", narrow_to(f32_tensor({7}, 1e-3f, 1.7f), DType::kBf16)},
      {"m.f16", narrow_to(f32_tensor({2, 3, 1}, -0.4f, 0.123f), DType::kF16)},
      {"scalar", f32_tensor({}, 42.0f, 0)},
  };
  ASSERT_TRUE(write_safetensors(path, tensors, {{"source", "ringmaster"}}).ok());
  {
    std::ofstream script(dir.file("reader.py"));
    script << kNumpyReader;
  }
  const std::string command =
      "/usr/bin/python3 " + dir.file("reader.py") + " " + path + " > " + dir.file("out.json");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const nlohmann::json out = nlohmann::json::parse(read_all(dir.file("out.json")));
  EXPECT_EQ(out["__metadata__"]["source"], "ringmaster");
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(out.contains(name)) << name;
    const nlohmann::json& got = out[name];
    EXPECT_EQ(got["shape"].get<Shape>(), t.shape()) << name;
    const Tensor wide = to_f32(t);
    ASSERT_EQ(got["values"].size(), static_cast<size_t>(t.numel())) << name;
    for (int64_t i = 0; i < t.numel(); ++i) {
      EXPECT_EQ(got["values"][static_cast<size_t>(i)].get<double>(),
                static_cast<double>(wide.data<float>()[i]))
          << name << " " << i;
    }
  }
}

}  // namespace
}  // namespace ringmaster::model
