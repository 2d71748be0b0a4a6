#include "temp_dir.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

namespace goscope::testing {

namespace fs = std::filesystem;

std::string MakeTempDir(std::string_view tag) {
  std::string tmpl = (fs::temp_directory_path() / ("goscope-" + std::string(tag) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    return "";
  }
  return tmpl;
}

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  for (auto& e : fs::recursive_directory_iterator(path, ec))
    if (e.is_directory(ec) && !e.is_symlink(ec))
      fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path, ec);
}

TempDir::~TempDir() { RemoveTree(path_); }

std::vector<std::string> TempDir::List() const {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace goscope::testing
