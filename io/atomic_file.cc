#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <utility>

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;

// Leaves room in NAME_MAX (255) for "." + ".<16 hex>.partial" around a long target name.
constexpr size_t kMaxNameInTempName = 200;
// A random name that exists is someone's plant or a 2^-64 collision; either way try another,
// as mkstemp does, but not forever.
constexpr int kCreateAttempts = 8;

std::string folder_of(const std::string& path) {
  const fs::path folder = fs::path(path).parent_path();
  return folder.empty() ? std::string(".") : folder.string();
}

// 16 hex digits from getrandom(2): unpredictable, unlike a pid or a counter.
StatusOr<std::string> random_hex(const std::string& path) {
  uint64_t bits = 0;
  auto* out = reinterpret_cast<unsigned char*>(&bits);
  size_t filled = 0;
  while (filled < sizeof(bits)) {
    const ssize_t n = ::getrandom(out + filled, sizeof(bits) - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status(path + ": getrandom for a temporary name", errno);
    }
    filled += static_cast<size_t>(n);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(bits));
  return std::string(hex, 16);
}

// "<folder>/.<name>.<hex>.partial".
std::string temp_path_for(const std::string& path, const std::string& hex) {
  const std::string name = fs::path(path).filename().string().substr(0, kMaxNameInTempName);
  // Built with append: GCC 12's -Wrestrict misfires on `"." + std::string` (GCC bug 105329).
  std::string temp_name = ".";
  temp_name.append(name).append(".").append(hex).append(".partial");
  return (fs::path(folder_of(path)) / temp_name).string();
}

// Creates `temp_path` for reading and writing. O_EXCL | O_NOFOLLOW: a symlink (or anything
// else) already there is an error, never a file we write through. Returns the fd, or -errno.
int open_exclusive(const std::string& temp_path, mode_t mode) {
  const int fd =
      ::open(temp_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  return fd >= 0 ? fd : -errno;
}

Status create_error(const std::string& path, const std::string& temp_path, int err) {
  return errno_status(temp_path + ": cannot create the temporary file for " + path, err);
}

}  // namespace

StatusOr<AtomicFile> AtomicFile::create(const std::string& path, mode_t mode) {
  const std::string name = fs::path(path).filename().string();
  if (name.empty() || name == "." || name == "..") {
    return invalid_argument("'" + path + "' does not name a file");
  }
  for (int attempt = 1;; ++attempt) {
    RM_ASSIGN_OR_RETURN(const std::string hex, random_hex(path));
    std::string temp_path = temp_path_for(path, hex);
    const int fd = open_exclusive(temp_path, mode);
    if (fd >= 0) return AtomicFile(path, std::move(temp_path), fd);
    if (fd != -EEXIST || attempt == kCreateAttempts) return create_error(path, temp_path, -fd);
  }
}

AtomicFile::AtomicFile(std::string path, std::string temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::exchange(other.temp_path_, {})),
      fd_(std::exchange(other.fd_, -1)) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    abandon();
    path_ = std::move(other.path_);
    temp_path_ = std::exchange(other.temp_path_, {});
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

AtomicFile::~AtomicFile() { abandon(); }

void AtomicFile::abandon() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (!temp_path_.empty()) ::unlink(std::exchange(temp_path_, {}).c_str());
}

Status AtomicFile::write(std::span<const std::byte> bytes) {
  RM_CHECK(fd_ >= 0) << "write() to a committed or moved-from AtomicFile for " << path_;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_status(temp_path_ + ": write", n < 0 ? errno : EIO);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return ok_status();
}

Status AtomicFile::write(std::string_view text) { return write(std::as_bytes(std::span(text))); }

int AtomicFile::fd() const {
  RM_CHECK(fd_ >= 0) << "fd() of a committed or moved-from AtomicFile for " << path_;
  return fd_;
}

Status AtomicFile::commit() {
  RM_CHECK(fd_ >= 0) << "commit() of a committed or moved-from AtomicFile for " << path_;
  // Data first, then the name: after a power cut path_ holds the old file or the whole new one.
  if (::fsync(fd_) != 0) {
    const Status status = errno_status(temp_path_ + ": fsync", errno);
    abandon();
    return status;
  }
  // close() can report a delayed write error (NFS); it must not pass silently.
  if (::close(std::exchange(fd_, -1)) != 0) {
    const Status status = errno_status(temp_path_ + ": close", errno);
    abandon();
    return status;
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const Status status = errno_status("rename " + temp_path_ + " -> " + path_, errno);
    abandon();
    return status;
  }
  temp_path_.clear();  // it is path_ now
  // The rename is durable only once the folder's entry is.
  return fsync_directory(folder_of(path_));
}

Status write_file_atomically(const std::string& path, std::string_view contents, mode_t mode) {
  RM_ASSIGN_OR_RETURN(AtomicFile file, AtomicFile::create(path, mode));
  RM_RETURN_IF_ERROR(file.write(contents));
  return file.commit();
}

Status fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status(dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status(dir + ": fsync", err);
  return ok_status();
}

namespace internal {

StatusOr<AtomicFile> create_atomic_file_at(const std::string& path, const std::string& temp_path,
                                           mode_t mode) {
  const int fd = open_exclusive(temp_path, mode);
  if (fd < 0) return create_error(path, temp_path, -fd);
  return AtomicFile(path, temp_path, fd);
}

}  // namespace internal
}  // namespace ringmaster::io
