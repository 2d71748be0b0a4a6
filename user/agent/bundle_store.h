// Diagnosis bundles on disk: one directory per bundle,
// DIR/PID-COMM-YYYYmmddTHHMMSSZ/, written whole or not at all (files go into
// a temporary directory that is renamed into place), bounded in total size
// (the oldest bundles go first), listed and read back for the agent's
// /bundles. Knows nothing of what a bundle holds.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace goscope {

struct BundleFile {
  std::string name;  // "heap.pb.gz"
  std::string data;
};

struct BundleInfo {
  std::string name;  // the directory: "1234-caddy-20261205T071500Z"
  pid_t pid = 0;
  int64_t unix_seconds = 0;  // when it was written
  uint64_t bytes = 0;
  std::vector<std::string> files;
};

class BundleStore {
 public:
  // Creates dir if needed; throws Error when it cannot be written.
  BundleStore(std::string dir, uint64_t max_bytes);

  // Writes one bundle and prunes the oldest others until every bundle fits
  // max_bytes; returns its name. Throws Error (and leaves nothing behind)
  // when it cannot be written or alone exceeds max_bytes.
  std::string Write(pid_t pid, const std::string& comm, const std::vector<BundleFile>& files);
  std::vector<BundleInfo> List() const;  // newest first
  // A file of a bundle; nullopt unless both name one this store wrote.
  std::optional<std::string> Read(std::string_view bundle, std::string_view file) const;
  uint64_t bytes() const;
  const std::string& dir() const { return dir_; }

 private:
  void Prune(const std::string& keep);

  std::string dir_;
  uint64_t max_bytes_;
};

}  // namespace goscope
