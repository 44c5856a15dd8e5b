#include "io/internal/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

namespace ringmaster::io::internal {
namespace {

constexpr unsigned char kGzipMagic0 = 0x1f;
constexpr unsigned char kGzipMagic1 = 0x8b;

bool has_gzip_magic(std::string_view head) {
  return head.size() >= 2 && static_cast<unsigned char>(head[0]) == kGzipMagic0 &&
         static_cast<unsigned char>(head[1]) == kGzipMagic1;
}

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, std::string path, int64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~FileSource() override { ::close(fd_); }

  // Serves `head` (bytes already read to sniff the format) before the rest of the file.
  void unread(std::string head) { head_ = std::move(head); }

  StatusOr<size_t> read(char* dst, size_t capacity) override {
    if (head_pos_ < head_.size()) {
      const size_t n = std::min(capacity, head_.size() - head_pos_);
      std::copy_n(head_.data() + head_pos_, n, dst);
      head_pos_ += n;
      return n;
    }
    for (;;) {
      const ssize_t n = ::read(fd_, dst, capacity);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return errno_status(path_, errno);
    }
  }

  int64_t size_hint() const override { return size_; }

 private:
  int fd_;
  std::string path_;
  int64_t size_;
  std::string head_;
  size_t head_pos_ = 0;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(std::string_view bytes, size_t max_read) : bytes_(bytes), max_read_(max_read) {}

  StatusOr<size_t> read(char* dst, size_t capacity) override {
    const size_t n = std::min({capacity, max_read_, bytes_.size() - pos_});
    std::copy_n(bytes_.data() + pos_, n, dst);
    pos_ += n;
    return n;
  }

  int64_t size_hint() const override { return static_cast<int64_t>(bytes_.size()); }

 private:
  std::string_view bytes_;
  size_t max_read_;
  size_t pos_ = 0;
};

// Inflates gzip members one after another until the raw bytes end. The raw data ending inside
// a member is data loss: a half-copied .fa.gz must fail loudly, never yield a shorter genome.
class GzipSource final : public ByteSource {
 public:
  GzipSource(std::unique_ptr<ByteSource> raw, std::string name)
      : raw_(std::move(raw)), name_(std::move(name)), in_(kInputBytes) {
    raw_size_ = raw_->size_hint();
  }
  ~GzipSource() override {
    if (z_ready_) inflateEnd(&z_);
  }

  Status init() {
    // 16 + MAX_WBITS: gzip wrapper only, so a zlib or raw deflate stream is rejected.
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {
      return internal_error(name_ + ": cannot initialise zlib");
    }
    z_ready_ = true;
    return ok_status();
  }

  bool is_gzip() const override { return true; }

  StatusOr<size_t> read(char* dst, size_t capacity) override {
    const uInt out_capacity = static_cast<uInt>(std::min<size_t>(capacity, 1u << 30));
    if (out_capacity == 0) return size_t{0};
    z_.next_out = reinterpret_cast<Bytef*>(dst);
    z_.avail_out = out_capacity;
    while (z_.avail_out == out_capacity) {  // until something is produced or the data ends
      if (z_.avail_in == 0 && !raw_eof_) {
        RM_ASSIGN_OR_RETURN(const size_t n, raw_->read(in_.data(), in_.size()));
        raw_eof_ = n == 0;
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(n);
        raw_read_ += n;
        continue;
      }
      if (between_members_) {
        // gzip(1) ignores zero padding after a member; anything else must start a new member.
        while (z_.avail_in > 0 && *z_.next_in == 0) ++z_.next_in, --z_.avail_in;
        if (z_.avail_in == 0) {
          if (raw_eof_) break;
          continue;
        }
        if (*z_.next_in != kGzipMagic0) {
          return data_loss(name_ + ": garbage after gzip data at compressed byte " +
                           std::to_string(compressed_offset()));
        }
        if (inflateReset(&z_) != Z_OK) return internal_error(name_ + ": zlib reset failed");
        between_members_ = false;
      }
      if (z_.avail_in == 0) {  // raw_eof_ inside a member
        return data_loss(name_ + ": gzip data ends early (truncated file?) after " +
                         std::to_string(produced_) + " decompressed bytes");
      }
      const int ret = inflate(&z_, Z_NO_FLUSH);
      if (ret == Z_STREAM_END) {
        between_members_ = true;
      } else if (ret == Z_MEM_ERROR) {
        return internal_error(name_ + ": zlib is out of memory");
      } else if (ret != Z_OK) {  // Z_DATA_ERROR, Z_NEED_DICT; Z_BUF_ERROR cannot happen with input
        return data_loss(name_ + ": corrupt gzip data at compressed byte " +
                         std::to_string(compressed_offset()) + ": " +
                         (z_.msg != nullptr ? z_.msg : "inflate error " + std::to_string(ret)));
      }
    }
    const size_t produced = out_capacity - z_.avail_out;
    produced_ += produced;
    if (produced_ > inflate_limit()) {
      return invalid_argument(
          name_ + ": compressed byte " + std::to_string(compressed_offset()) +
          ": gzip data inflates past " + std::to_string(inflate_limit()) + " bytes, " +
          std::to_string(kMaxInflateRatio) + " times the compressed " +
          (raw_size_ >= 0 ? "file" : "bytes read") +
          " plus a margin (a decompression bomb? decompress a genuine file first)");
    }
    return produced;
  }

 private:
  static constexpr size_t kInputBytes = 256 << 10;

  uint64_t compressed_offset() const { return raw_read_ - z_.avail_in; }

  // byte_source.h: the inflate cap, from the file's size when known, else from what was read.
  uint64_t inflate_limit() const {
    if (raw_size_ >= 0) {
      return kMaxInflateRatio * std::max<uint64_t>(static_cast<uint64_t>(raw_size_), raw_read_) +
             kInflateSlackBytes;
    }
    return kMaxInflateRatio * raw_read_ + kPipeInflateSlackBytes;
  }

  std::unique_ptr<ByteSource> raw_;
  std::string name_;
  std::vector<char> in_;
  z_stream z_{};
  bool z_ready_ = false;
  bool raw_eof_ = false;
  bool between_members_ = false;
  uint64_t raw_read_ = 0;  // compressed bytes read from raw_
  uint64_t produced_ = 0;  // decompressed bytes returned
  int64_t raw_size_ = -1;  // the compressed size, or -1 when unknown
};

StatusOr<std::unique_ptr<ByteSource>> make_gzip(std::unique_ptr<ByteSource> raw, std::string name) {
  auto gzip = std::make_unique<GzipSource>(std::move(raw), std::move(name));
  RM_RETURN_IF_ERROR(gzip->init());
  return std::unique_ptr<ByteSource>(std::move(gzip));
}

// The kind of a non-regular file, for the error that refuses it.
const char* file_kind(mode_t mode) {
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a pipe";
  return "another kind of file";
}

}  // namespace

StatusOr<std::unique_ptr<ByteSource>> open_byte_source(const std::string& path, bool inflate_gzip,
                                                       FileKinds kinds) {
  // Regular files only: O_NONBLOCK so that a FIFO is refused at once rather than waited on
  // (opening one blocks until a writer comes); it changes nothing for reading a regular file.
  const int flags = O_RDONLY | O_CLOEXEC | (kinds == FileKinds::kRegular ? O_NONBLOCK : 0);
  int fd;
  do {
    fd = ::open(path.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_status(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status(path, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return errno_status(path, EISDIR);
  }
  const bool allowed =
      S_ISREG(st.st_mode) || (kinds == FileKinds::kRegularOrPipe && S_ISFIFO(st.st_mode));
  if (!allowed) {
    ::close(fd);
    return invalid_argument(path +
                            (kinds == FileKinds::kRegular
                                 ? ": not a regular file ("
                                 : ": neither a regular file nor a pipe (") +
                            file_kind(st.st_mode) + ")");
  }
  const int64_t size = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : -1;
  if (size > 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  auto file = std::make_unique<FileSource>(fd, path, size);
  if (!inflate_gzip) return std::unique_ptr<ByteSource>(std::move(file));

  // Sniff two bytes; a pipe may deliver them one at a time, so loop.
  std::string head(2, '\0');
  size_t got = 0;
  while (got < head.size()) {
    RM_ASSIGN_OR_RETURN(const size_t n, file->read(head.data() + got, head.size() - got));
    if (n == 0) break;
    got += n;
  }
  head.resize(got);
  const bool gzip = has_gzip_magic(head);
  file->unread(std::move(head));
  if (gzip) return make_gzip(std::move(file), path);
  return std::unique_ptr<ByteSource>(std::move(file));
}

std::unique_ptr<ByteSource> memory_byte_source(std::string_view bytes, std::string display_name,
                                               size_t max_read) {
  auto memory = std::make_unique<MemorySource>(bytes, std::max<size_t>(max_read, 1));
  if (!has_gzip_magic(bytes)) return memory;
  auto gzip = make_gzip(std::move(memory), std::move(display_name));
  // Only zlib running out of memory fails here; that is not the caller's data, so it is a bug.
  RM_CHECK(gzip.ok()) << gzip.status().to_string();
  return std::move(gzip).value();
}

}  // namespace ringmaster::io::internal
