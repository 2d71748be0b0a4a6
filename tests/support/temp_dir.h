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

// A small tmpfs mounted on a fresh directory (unmounted when done), for
// disk-full tests: Fill() takes all of its free space. ok() is false where
// mounting is not allowed (not root): callers skip.
class SmallFilesystem {
 public:
  explicit SmallFilesystem(const std::string& size = "256k");
  ~SmallFilesystem();
  SmallFilesystem(const SmallFilesystem&) = delete;
  SmallFilesystem& operator=(const SmallFilesystem&) = delete;

  bool ok() const { return mounted_; }
  std::string path(const std::string& sub) const { return dir_.path() + "/" + sub; }
  // Writes a filler file until the filesystem has no room left.
  void Fill();

 private:
  TempDir dir_{"tmpfs"};
  bool mounted_ = false;
};

// Removes path and everything under it, making read-only directories
// writable first.
void RemoveTree(const std::string& path);

}  // namespace goscope::testing
