// io/atomic_file.h: AtomicFile, a file that appears at its path whole or not at all;
// write_file_atomically, its one-shot form; and fsync_directory, which makes a rename durable.
//
// The one way ringmaster replaces a file (STYLE.md 10). create() makes a temporary file in the
// target's own folder (so the final rename(2) is atomic), named ".<name>.<16 random hex
// digits>.partial": dot-named and marked partial so that it is never mistaken for output
// (RELIABILITY.md 3.6), and random (getrandom(2)) so that nobody can predict it. It is opened
// with O_CREAT | O_EXCL | O_NOFOLLOW, so whatever is planted at that name (a symlink to someone
// else's file) is neither followed nor truncated. The caller writes through write() or fd();
// commit() fsyncs the file, renames it over the target and fsyncs the folder. Until commit()
// the target is untouched; an AtomicFile destroyed uncommitted unlinks its temporary file, and
// one that failed to commit leaves no temporary file behind.
//
// The target itself is replaced, never written through: if it is a symlink, the link is
// replaced by the new file and what it pointed at is unchanged (rename(2) semantics).
//
// Ownership: an AtomicFile owns its descriptor and its temporary file until commit().
// Thread-compatible: one thread at a time calls its methods; fd() may be handed to pwrite(2)
// from several threads while none of the methods runs.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace ringmaster::io {

class AtomicFile;
namespace internal {
// Test hook, for tests/unit/io/atomic_file_test.cc only: AtomicFile::create with the temporary
// file at exactly `temp_path` (REQUIRES: in the folder of `path`) instead of a random name, so a
// test can plant a symlink where the writer will create its file.
StatusOr<AtomicFile> create_atomic_file_at(const std::string& path, const std::string& temp_path,
                                           mode_t mode);
}  // namespace internal

class AtomicFile {
 public:
  // rw-r--r--; narrowed by the process umask, as open(2) does. Pass 0600 for files that only
  // their owner may read.
  static constexpr mode_t kDefaultMode = 0644;

  // Creates an empty temporary file beside `path`, which is not touched until commit().
  // Errors (naming the path and errno): the folder is missing (kNotFound) or not writable.
  static StatusOr<AtomicFile> create(const std::string& path, mode_t mode = kDefaultMode);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Closes the file and, unless commit() succeeded, unlinks the temporary file.
  ~AtomicFile();

  // Appends `bytes` at the file offset (retrying short writes and EINTR).
  // REQUIRES: not committed. Errors: I/O (ENOSPC, EFBIG, ...) naming the path.
  Status write(std::span<const std::byte> bytes);
  Status write(std::string_view text);

  // The open temporary file, read-write, for callers that ftruncate, pwrite or mmap it. The
  // AtomicFile keeps ownership: do not close it. REQUIRES: not committed.
  int fd() const;

  // Fsyncs and closes the file, renames it over path(), then fsyncs the folder.
  // REQUIRES: not committed (commit() is called at most once). Errors before the rename leave
  // path() as it was and remove the temporary file; an error from the folder's fsync comes after
  // the rename: the new contents are in place but may not survive a power cut.
  Status commit();

  const std::string& path() const { return path_; }            // the target
  const std::string& temp_path() const { return temp_path_; }  // where the bytes are until commit

 private:
  friend StatusOr<AtomicFile> internal::create_atomic_file_at(const std::string&,
                                                              const std::string&, mode_t);
  AtomicFile(std::string path, std::string temp_path, int fd);
  void abandon();  // closes the file and unlinks the temporary file, if any

  std::string path_;
  std::string temp_path_;  // empty once committed, abandoned or moved from
  int fd_ = -1;
};

// Replaces `path` with `contents` through an AtomicFile: readers see the old file or the whole
// new one, never a part. Errors: those of AtomicFile::create, write and commit.
Status write_file_atomically(const std::string& path, std::string_view contents,
                             mode_t mode = AtomicFile::kDefaultMode);

// Fsyncs the directory `dir`, which makes the names created, renamed or removed in it durable.
// Errors: `dir` cannot be opened as a directory, or fsync fails; both name `dir` and errno.
Status fsync_directory(const std::string& dir);

}  // namespace ringmaster::io
