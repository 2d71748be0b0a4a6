#include "temp_dir.h"

#include <stdlib.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

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

SmallFilesystem::SmallFilesystem(const std::string& size) {
  mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
}

SmallFilesystem::~SmallFilesystem() {
  if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
}

void SmallFilesystem::Fill() {
  std::ofstream out(path("filler"), std::ios::binary | std::ios::app);
  const std::string block(4096, '\0');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
  }
}

}  // namespace goscope::testing
