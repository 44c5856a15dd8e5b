#include "io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace ringmaster::io {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_plain_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A fresh, empty folder per test, so "nothing left behind" is checkable by listing it.
class AtomicFileTest : public ::testing::Test {
 protected:
  std::string in_dir(const std::string& name) const { return dir_.file(name); }
  std::set<std::string> listing() const {
    const std::vector<std::string> entries = dir_.entries();
    return {entries.begin(), entries.end()};
  }

  ringmaster::testing::TempDir dir_;
  const std::string dir_path_ = dir_.path().string();
};

TEST_F(AtomicFileTest, WritesAndReplacesAFile) {
  const std::string path = in_dir("out.txt");
  ASSERT_TRUE(write_file_atomically(path, "first\n").ok());
  EXPECT_EQ(read_file(path), "first\n");
  ASSERT_TRUE(write_file_atomically(path, "second, longer\n").ok());
  EXPECT_EQ(read_file(path), "second, longer\n");
  ASSERT_TRUE(write_file_atomically(path, "").ok());
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(listing(), std::set<std::string>{"out.txt"});  // renamed, not copied
}

TEST_F(AtomicFileTest, TempFileIsRandomDotNamedAndBesideTheTarget) {
  const std::string path = in_dir("out.txt");
  StatusOr<AtomicFile> a = AtomicFile::create(path);
  StatusOr<AtomicFile> b = AtomicFile::create(path);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->temp_path(), b->temp_path());
  for (const AtomicFile* file : {&*a, &*b}) {
    EXPECT_EQ(fs::path(file->temp_path()).parent_path(), dir_.path());
    const std::string name = fs::path(file->temp_path()).filename().string();
    // ".out.txt." + 16 hex digits + ".partial"
    EXPECT_EQ(name.size(), 9 + 16 + 8) << name;
    EXPECT_EQ(name.rfind(".out.txt.", 0), 0u) << name;
    EXPECT_TRUE(name.ends_with(".partial")) << name;
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(AtomicFileTest, WritesThroughTheDescriptor) {
  // The result writers size a file up front and pwrite pieces in any order.
  const std::string path = in_dir("rows.bin");
  StatusOr<AtomicFile> file = AtomicFile::create(path);
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(::ftruncate(file->fd(), 6), 0);
  ASSERT_EQ(::pwrite(file->fd(), "def", 3, 3), 3);
  ASSERT_EQ(::pwrite(file->fd(), "abc", 3, 0), 3);
  ASSERT_TRUE(file->commit().ok());
  EXPECT_EQ(read_file(path), "abcdef");
}

TEST_F(AtomicFileTest, UncommittedLeavesNothingBehind) {
  const std::string old_path = in_dir("old.txt");
  write_plain_file(old_path, "old");
  {
    StatusOr<AtomicFile> fresh = AtomicFile::create(in_dir("new.txt"));
    StatusOr<AtomicFile> replacing = AtomicFile::create(old_path);
    ASSERT_TRUE(fresh.ok() && replacing.ok());
    ASSERT_TRUE(fresh->write("never seen").ok());
    ASSERT_TRUE(replacing->write("never seen").ok());
    EXPECT_EQ(listing().size(), 3u);  // old.txt and two temporary files
    // A moved-from AtomicFile owns nothing; the moved-to one cleans up.
    AtomicFile moved = std::move(*fresh);
    EXPECT_TRUE(fresh->temp_path().empty());
  }
  EXPECT_EQ(listing(), std::set<std::string>{"old.txt"});
  EXPECT_EQ(read_file(old_path), "old");
}

TEST_F(AtomicFileTest, FailedWriteLeavesTheOldTargetUntouched) {
  const std::string path = in_dir("out.txt");
  write_plain_file(path, "old");
  // A file size limit makes write(2) fail with EFBIG (SIGXFSZ ignored) without filling a disk.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = saved;
  limit.rlim_cur = 4;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  Status status = write_file_atomically(path, "longer than four bytes");
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, saved_handler);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(dir_path_), std::string::npos) << status.to_string();
  EXPECT_NE(status.message().find(std::strerror(EFBIG)), std::string::npos) << status.to_string();
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(listing(), std::set<std::string>{"out.txt"});
}

TEST_F(AtomicFileTest, FailedCommitLeavesTheOldTargetUntouched) {
  // A directory cannot be replaced by a file: the rename fails.
  const std::string path = in_dir("taken");
  fs::create_directory(path);
  write_plain_file(path + "/inside", "kept");
  StatusOr<AtomicFile> file = AtomicFile::create(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->write("new").ok());
  const Status status = file->commit();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path), std::string::npos) << status.to_string();
  EXPECT_EQ(read_file(path + "/inside"), "kept");
  EXPECT_EQ(listing(), std::set<std::string>{"taken"});
}

TEST_F(AtomicFileTest, MissingFolderIsNotFound) {
  const std::string path = in_dir("missing/out.txt");
  const Status status = write_file_atomically(path, "x");
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
  EXPECT_NE(status.message().find(path), std::string::npos) << status.to_string();
  EXPECT_TRUE(listing().empty());
  EXPECT_EQ(AtomicFile::create(dir_path_ + "/").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AtomicFileTest, AppliesTheModeUnderTheUmask) {
  const mode_t saved_umask = ::umask(022);
  ASSERT_TRUE(write_file_atomically(in_dir("shared.txt"), "x").ok());
  ASSERT_TRUE(write_file_atomically(in_dir("private.txt"), "x", 0600).ok());
  ::umask(077);
  ASSERT_TRUE(write_file_atomically(in_dir("narrowed.txt"), "x").ok());
  ::umask(saved_umask);
  auto mode_of = [&](const std::string& name) {
    struct stat st {};
    EXPECT_EQ(::stat(in_dir(name).c_str(), &st), 0);
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode_of("shared.txt"), 0644u);
  EXPECT_EQ(mode_of("private.txt"), 0600u);
  EXPECT_EQ(mode_of("narrowed.txt"), 0600u);
}

// The random temporary name cannot be predicted, so an attacker's best guess is to plant links
// with names of the right shape; none of them is written through.
TEST_F(AtomicFileTest, LinksPlantedAtTempLikeNamesAreNotFollowed) {
  const std::string victim = in_dir("victim");
  write_plain_file(victim, "precious");
  const std::set<std::string> planted = {".out.txt.0000000000000000.partial", ".out.txt.partial",
                                         ".out.txt.tmp", ".out.txt.ffffffffffffffff.partial"};
  for (const std::string& name : planted) fs::create_symlink(victim, in_dir(name));
  ASSERT_TRUE(write_file_atomically(in_dir("out.txt"), "output").ok());
  EXPECT_EQ(read_file(in_dir("out.txt")), "output");
  EXPECT_EQ(read_file(victim), "precious");
  for (const std::string& name : planted) EXPECT_TRUE(fs::is_symlink(in_dir(name))) << name;
}

// Forcing the temporary name puts a planted link exactly where the writer creates its file:
// creation fails, and neither the link nor its target changes.
TEST_F(AtomicFileTest, RefusesALinkAtItsExactTempName) {
  const std::string victim = in_dir("victim");
  write_plain_file(victim, "precious");
  const std::string temp = in_dir(".out.txt.0123456789abcdef.partial");
  fs::create_symlink(victim, temp);
  StatusOr<AtomicFile> file =
      internal::create_atomic_file_at(in_dir("out.txt"), temp, AtomicFile::kDefaultMode);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find(temp), std::string::npos) << file.status().to_string();
  EXPECT_NE(file.status().message().find(std::strerror(EEXIST)), std::string::npos)
      << file.status().to_string();
  EXPECT_EQ(read_file(victim), "precious");
  EXPECT_TRUE(fs::is_symlink(temp));
  EXPECT_FALSE(fs::exists(fs::symlink_status(in_dir("out.txt"))));

  // A dangling link (to a file that does not exist yet) is not followed either.
  const std::string dangling_temp = in_dir(".out.txt.fedcba9876543210.partial");
  fs::create_symlink(in_dir("would-be-created"), dangling_temp);
  EXPECT_FALSE(internal::create_atomic_file_at(in_dir("out.txt"), dangling_temp, 0644).ok());
  EXPECT_FALSE(fs::exists(in_dir("would-be-created")));
}

// The target is replaced, never written through: a link there is swapped for the new file.
TEST_F(AtomicFileTest, ReplacesALinkAtTheTargetInsteadOfWritingThroughIt) {
  const std::string victim = in_dir("victim");
  write_plain_file(victim, "precious");
  const std::string path = in_dir("out.txt");
  fs::create_symlink(victim, path);
  ASSERT_TRUE(write_file_atomically(path, "output").ok());
  EXPECT_FALSE(fs::is_symlink(path));
  EXPECT_EQ(read_file(path), "output");
  EXPECT_EQ(read_file(victim), "precious");
}

TEST_F(AtomicFileTest, FsyncDirectory) {
  EXPECT_TRUE(fsync_directory(dir_path_).ok());
  write_plain_file(in_dir("file"), "x");
  const Status not_a_dir = fsync_directory(in_dir("file"));
  EXPECT_FALSE(not_a_dir.ok());
  EXPECT_NE(not_a_dir.message().find(in_dir("file")), std::string::npos);
  EXPECT_EQ(fsync_directory(in_dir("missing")).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ringmaster::io
