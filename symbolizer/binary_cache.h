// One parsed GoBinary per distinct executable, however many processes run it:
// keyed by build id, or by device, inode, size and mtime when it has none.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "go_binary.h"

namespace goscope {

class BinaryCache {
 public:
  // Opens path (e.g. /proc/PID/exe) unless a binary with the same identity is cached.
  std::shared_ptr<const GoBinary> Get(const std::string& path);
  // Distinct binaries parsed so far.
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const GoBinary>> by_file_;  // dev:inode:size:mtime
  std::map<std::string, std::shared_ptr<const GoBinary>> by_id_;    // build id
};

}  // namespace goscope
