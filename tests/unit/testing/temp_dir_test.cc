// TempDir: a fresh directory per object, removed with its contents on destruction.
#include "tests/testing/temp_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace ringmaster::testing {
namespace {

TEST(TempDir, IsCreatedAndRemovedWithItsContents) {
  std::filesystem::path kept;
  {
    TempDir dir;
    kept = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(kept));
    EXPECT_TRUE(dir.entries().empty());
    std::ofstream(dir.file("a.txt")) << "a";
    std::filesystem::create_directories(dir.path() / "sub" / "deeper");
    std::ofstream(dir.file("sub/deeper/b.txt")) << "b";
    EXPECT_EQ(dir.file("a.txt"), (kept / "a.txt").string());
    EXPECT_EQ(dir.entries().size(), 2u);
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
}

TEST(TempDir, TwoAreDistinct) {
  TempDir a, b;
  EXPECT_NE(a.path(), b.path());
}

TEST(TempDir, LivesUnderTmpdir) {
  TempDir outer;
  const char* saved = std::getenv("TMPDIR");
  const std::string restore = saved != nullptr ? saved : "";
  ::setenv("TMPDIR", outer.path().c_str(), 1);
  {
    TempDir inner;
    EXPECT_EQ(inner.path().parent_path(), outer.path());
  }
  if (saved != nullptr) {
    ::setenv("TMPDIR", restore.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
}

TEST(TempDir, DestructorToleratesARemovedDirectory) {
  TempDir dir;
  std::filesystem::remove_all(dir.path());
}

}  // namespace
}  // namespace ringmaster::testing
