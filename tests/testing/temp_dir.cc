#include "tests/testing/temp_dir.h"

#include <stdlib.h>

#include <system_error>

#include "core/check.h"

namespace ringmaster::testing {

TempDir::TempDir() {
  // temp_directory_path() is $TMPDIR when set, else /tmp.
  std::string pattern =
      (std::filesystem::temp_directory_path() / "ringmaster-test-XXXXXX").string();
  RM_CHECK(::mkdtemp(pattern.data()) != nullptr) << "mkdtemp " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path_)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace ringmaster::testing
