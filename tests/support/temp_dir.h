// A fresh directory under $TMPDIR (/tmp), removed with everything in it when
// the test is done, read-only entries included.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace goscope::testing {

// Creates $TMPDIR/goscope-TAG-XXXXXX and returns its path; "" (and a test
// failure) if it cannot. The caller removes it.
std::string MakeTempDir(std::string_view tag);

class TempDir {
 public:
  explicit TempDir(std::string_view tag = "test") : path_(MakeTempDir(tag)) {}
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The names in the directory, sorted.
  std::vector<std::string> List() const;

 private:
  std::string path_;
};

// Removes path and everything under it, making read-only directories
// writable first.
void RemoveTree(const std::string& path);

}  // namespace goscope::testing
