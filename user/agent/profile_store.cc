#include "agent/profile_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "error.h"
#include "output/atomic_file.h"

namespace goscope {
namespace fs = std::filesystem;

namespace {

struct StoredFile {
  fs::path path;
  fs::file_time_type mtime;
  uint64_t size;
};

// Only what this store writes: *.pb.gz one level down. Anything else in the
// directory is left alone.
std::vector<StoredFile> List(const std::string& dir) {
  std::vector<StoredFile> out;
  std::error_code ec;
  for (const auto& sub : fs::directory_iterator(dir, ec)) {
    if (!sub.is_directory(ec)) continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      if (!f.is_regular_file(ec) || !f.path().string().ends_with(".pb.gz")) continue;
      out.push_back({f.path(), f.last_write_time(ec), static_cast<uint64_t>(f.file_size(ec))});
    }
  }
  return out;
}

std::string SafeName(std::string s) {
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s.empty() ? "_" : s;
}

}  // namespace

ProfileStore::ProfileStore(std::string dir, RetentionPolicy retention)
    : dir_(std::move(dir)), retention_(retention) {
  EnsureOutputDir(dir_);
}

void ProfileStore::Write(pid_t pid, const std::string& comm, const std::string& kind, const std::string& gzipped) {
  std::string sub = fmt::format("{}/{}-{}", dir_, pid, SafeName(comm));
  std::error_code ec;
  fs::create_directories(sub, ec);
  if (ec) throw Error(fmt::format("profile directory {}: {}", sub, ec.message()));
  char ts[32];
  time_t now = time(nullptr);
  strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", gmtime(&now));
  WriteFileAtomically(fmt::format("{}/{}-{}.pb.gz", sub, kind, ts), gzipped);
}

size_t ProfileStore::Prune() {
  std::vector<StoredFile> files = List(dir_);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.mtime < b.mtime; });
  size_t deleted = 0;
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  const auto now = fs::file_time_type::clock::now();
  std::error_code ec;
  for (const auto& f : files) {
    bool too_old = retention_.max_age_seconds > 0 && now - f.mtime > std::chrono::seconds(retention_.max_age_seconds);
    bool too_big = retention_.max_bytes > 0 && total > retention_.max_bytes;
    if (!too_old && !too_big) break;  // oldest first: the rest are younger, and the total fits
    if (fs::remove(f.path, ec)) {
      total -= f.size;
      deleted++;
    }
  }
  for (const auto& sub : fs::directory_iterator(dir_, ec))
    if (sub.is_directory(ec) && fs::is_empty(sub.path(), ec)) fs::remove(sub.path(), ec);
  return deleted;
}

uint64_t ProfileStore::bytes() const {
  uint64_t total = 0;
  for (const auto& f : List(dir_)) total += f.size;
  return total;
}

}  // namespace goscope
