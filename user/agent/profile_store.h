// The agent's profile directory: one subdirectory per process
// (PID-COMM), one timestamped .pb.gz per profile and period, for shipping to a
// continuous-profiling backend; bounded by total size and age, oldest first.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "agent/agent_config.h"

namespace goscope {

class ProfileStore {
 public:
  // Creates dir if needed; throws Error when it cannot be written.
  ProfileStore(std::string dir, RetentionPolicy retention);

  // Writes DIR/PID-COMM/KIND-YYYYmmddTHHMMSSZ.pb.gz atomically.
  void Write(pid_t pid, const std::string& comm, const std::string& kind, const std::string& gzipped);
  // Deletes profiles older than max_age, then the oldest until the total fits
  // max_bytes, then empty process directories. Returns the number of files deleted.
  size_t Prune();
  uint64_t bytes() const;  // total size of the profiles kept

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  RetentionPolicy retention_;
};

}  // namespace goscope
