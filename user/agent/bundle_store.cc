#include "agent/bundle_store.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "error.h"
#include "output/atomic_file.h"

namespace goscope {
namespace fs = std::filesystem;

namespace {

std::string SafeName(std::string s) {
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s.empty() ? "_" : s;
}

// A name this store could have written: no path separators, no dot files
// (temporary directories start with a dot).
bool PlainName(std::string_view s) {
  return !s.empty() && s.front() != '.' && s.find('/') == std::string_view::npos && s != "..";
}

// "1234-comm-20261205T071500Z" -> pid and time; nullopt for other names.
std::optional<BundleInfo> ParseName(const std::string& name) {
  BundleInfo b;
  b.name = name;
  char* end = nullptr;
  long pid = std::strtol(name.c_str(), &end, 10);
  if (end == name.c_str() || *end != '-' || pid <= 0) return std::nullopt;
  b.pid = static_cast<pid_t>(pid);
  const size_t dash = name.rfind('-');
  std::tm tm{};
  const char* rest = strptime(name.c_str() + dash + 1, "%Y%m%dT%H%M%SZ", &tm);
  if (!rest || (*rest && *rest != '.')) return std::nullopt;
  b.unix_seconds = timegm(&tm);
  return b;
}

}  // namespace

BundleStore::BundleStore(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {
  EnsureOutputDir(dir_);
}

std::string BundleStore::Write(pid_t pid, const std::string& comm, const std::vector<BundleFile>& files) {
  EnsureOutputDir(dir_);  // it may have been removed meanwhile
  char ts[32];
  const time_t now = time(nullptr);
  std::tm tm{};
  strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
  std::string name = fmt::format("{}-{}-{}", pid, SafeName(comm), ts);
  for (int n = 1; fs::exists(dir_ + "/" + name); n++) name = fmt::format("{}-{}-{}.{}", pid, SafeName(comm), ts, n);

  std::string tmp = fmt::format("{}/.{}.XXXXXX", dir_, name);
  if (!mkdtemp(tmp.data())) throw Error(fmt::format("bundle directory {}: {}", dir_, std::strerror(errno)));
  uint64_t total = 0;
  try {
    for (const BundleFile& f : files) {
      if (!PlainName(f.name)) throw Error(fmt::format("bundle file name \"{}\"", f.name));
      WriteFileAtomically(tmp + "/" + f.name, f.data);
      total += f.data.size();
    }
    if (total > max_bytes_)
      throw Error(fmt::format("bundle of {} bytes exceeds bundles.max_bytes ({})", total, max_bytes_));
    std::error_code ec;
    fs::rename(tmp, dir_ + "/" + name, ec);
    if (ec) throw Error(fmt::format("bundle {}/{}: {}", dir_, name, ec.message()));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  Prune(name);
  return name;
}

std::vector<BundleInfo> BundleStore::List() const {
  std::vector<BundleInfo> out;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(dir_, ec)) {
    const std::string name = d.path().filename().string();
    if (!PlainName(name) || !d.is_directory(ec)) continue;
    auto b = ParseName(name);
    if (!b) continue;
    for (const auto& f : fs::directory_iterator(d.path(), ec)) {
      if (!f.is_regular_file(ec)) continue;
      b->files.push_back(f.path().filename().string());
      b->bytes += static_cast<uint64_t>(f.file_size(ec));
    }
    std::sort(b->files.begin(), b->files.end());
    out.push_back(std::move(*b));
  }
  std::sort(out.begin(), out.end(), [](const BundleInfo& a, const BundleInfo& b) {
    return a.unix_seconds != b.unix_seconds ? a.unix_seconds > b.unix_seconds : a.name > b.name;
  });
  return out;
}

std::optional<std::string> BundleStore::Read(std::string_view bundle, std::string_view file) const {
  if (!PlainName(bundle) || !PlainName(file) || !ParseName(std::string(bundle))) return std::nullopt;
  std::ifstream in(fmt::format("{}/{}/{}", dir_, bundle, file), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t BundleStore::bytes() const {
  uint64_t total = 0;
  for (const auto& b : List()) total += b.bytes;
  return total;
}

void BundleStore::Prune(const std::string& keep) {
  std::vector<BundleInfo> all = List();
  uint64_t total = 0;
  for (const auto& b : all) total += b.bytes;
  std::error_code ec;
  for (auto it = all.rbegin(); it != all.rend() && total > max_bytes_; ++it) {
    if (it->name == keep) continue;
    if (fs::remove_all(dir_ + "/" + it->name, ec) > 0) total -= it->bytes;
  }
}

}  // namespace goscope
