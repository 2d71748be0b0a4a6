#include "binary_cache.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

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
    if (auto it = by_file_.find(file_key); it != by_file_.end()) {
      last_used_[it->second.get()] = ++clock_;
      return it->second;
    }
  }
  auto bin = GoBinary::Open(path);  // parse outside the lock: it can take a while
  std::lock_guard lock(mu_);
  std::string id = bin->identity();
  if (!id.empty()) {
    auto [it, inserted] = by_id_.emplace(id, bin);
    bin = it->second;  // another copy of the same build (e.g. in a container) shares the first
  }
  by_file_.emplace(file_key, bin);
  last_used_[bin.get()] = ++clock_;
  EvictIdle(bin.get());
  return bin;
}

// A binary is idle when only the cache's own maps hold it (returning, the one
// just asked for counts as idle: its caller may drop it at once); the idle
// ones past the capacity go, least recently used first.
void BinaryCache::EvictIdle(const GoBinary* returning) {
  std::map<const GoBinary*, long> held_by_cache;
  for (const auto* m : {&by_file_, &by_id_})
    for (const auto& [key, bin] : *m) held_by_cache[bin.get()]++;
  std::vector<std::pair<uint64_t, const GoBinary*>> idle;
  for (const auto& [key, bin] : by_file_)
    if (bin.use_count() == held_by_cache[bin.get()] + (bin.get() == returning ? 1 : 0))
      idle.emplace_back(last_used_[bin.get()], bin.get());
  std::sort(idle.begin(), idle.end());
  idle.erase(std::unique(idle.begin(), idle.end()), idle.end());
  if (idle.size() <= idle_capacity_) return;
  idle.resize(idle.size() - idle_capacity_);  // the oldest
  for (const auto& [when, victim] : idle) {
    for (auto* m : {&by_file_, &by_id_})
      std::erase_if(*m, [victim](const auto& kv) { return kv.second.get() == victim; });
    last_used_.erase(victim);
  }
}

size_t BinaryCache::size() const {
  std::lock_guard lock(mu_);
  return last_used_.size();
}

}  // namespace goscope
