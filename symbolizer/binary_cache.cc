#include "binary_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "error.h"

namespace goscope {

std::shared_ptr<const GoBinary> BinaryCache::Get(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  std::string file_key = fmt::format("{}:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec,
                                     st.st_mtim.tv_nsec);
  {
    std::lock_guard lock(mu_);
    if (auto it = by_file_.find(file_key); it != by_file_.end()) return it->second;
  }
  auto bin = GoBinary::Open(path);  // parse outside the lock: it can take a while
  std::lock_guard lock(mu_);
  std::string id = bin->identity();
  if (!id.empty()) {
    auto [it, inserted] = by_id_.emplace(id, bin);
    bin = it->second;  // another copy of the same build (e.g. in a container) shares the first
  }
  by_file_.emplace(file_key, bin);
  return bin;
}

size_t BinaryCache::size() const {
  std::lock_guard lock(mu_);
  std::set<const GoBinary*> distinct;
  for (const auto& [key, bin] : by_file_) distinct.insert(bin.get());
  return distinct.size();
}

}  // namespace goscope
