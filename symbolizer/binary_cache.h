// One parsed GoBinary per distinct executable, however many processes run it:
// keyed by build id, or by device, inode, size and mtime when it has none.
// Bounded: binaries that nobody outside the cache holds are kept only up to
// a capacity, most recently used first (a build host runs thousands of
// short-lived Go binaries, each parsed once).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "go_binary.h"

namespace goscope {

class BinaryCache {
 public:
  static constexpr size_t kDefaultIdleCapacity = 32;

  explicit BinaryCache(size_t idle_capacity = kDefaultIdleCapacity) : idle_capacity_(idle_capacity) {}

  // Opens path (e.g. /proc/PID/exe) unless a binary with the same identity is cached.
  std::shared_ptr<const GoBinary> Get(const std::string& path);
  // Distinct binaries cached now.
  size_t size() const;

 private:
  void EvictIdle(const GoBinary* returning);  // mu_ held

  const size_t idle_capacity_;
  mutable std::mutex mu_;
  uint64_t clock_ = 0;
  std::map<std::string, std::shared_ptr<const GoBinary>> by_file_;  // dev:inode:size:mtime
  std::map<std::string, std::shared_ptr<const GoBinary>> by_id_;    // build id
  std::map<const GoBinary*, uint64_t> last_used_;
};

}  // namespace goscope
