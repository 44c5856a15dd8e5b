// tests/testing/temp_dir.h: a fresh directory for one test's files, removed with everything in it
// when the TempDir goes out of scope, so a failing test leaves nothing behind in /tmp.
//
// The directory is made by mkdtemp under $TMPDIR (else /tmp), so parallel tests and processes
// never share one. Thread-compatible: the object is not shared, the directory may be.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ringmaster::testing {

class TempDir {
 public:
  // Creates the directory; aborts (RM_CHECK) when it cannot, as no test could run without it.
  TempDir();
  // Removes the directory recursively; errors are ignored (a test may have removed it).
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory (nothing is created).
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the entries in the directory, unsorted (to check that nothing partial was left).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

}  // namespace ringmaster::testing
