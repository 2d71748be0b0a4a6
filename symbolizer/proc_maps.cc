#include "proc_maps.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "error.h"

namespace goscope {

std::vector<Mapping> ParseMaps(const std::string& text) {
  std::vector<Mapping> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Mapping m;
    char perms[8] = {}, dev[32] = {};
    int path_at = 0;
    unsigned long long start, end, offset, inode;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms, &offset, dev, &inode,
                    &path_at) < 6)
      continue;
    m.start = start, m.end = end, m.offset = offset, m.inode = inode, m.perms = perms;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) m.path = line.substr(path_at);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Mapping> ReadMaps(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/maps", pid));
  if (!f) throw Error(fmt::format("process {} not found (no /proc/{}/maps)", pid, pid));
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseMaps(ss.str());
}

std::optional<uint64_t> LoadBias(const std::vector<Mapping>& maps, const ElfFile& elf, uint64_t inode) {
  constexpr uint64_t kPage = 4096;
  for (const auto& m : maps) {
    if (m.inode != inode) continue;
    for (const auto& seg : elf.segments()) {
      if (seg.type != PT_LOAD) continue;
      if ((seg.offset & ~(kPage - 1)) != m.offset) continue;
      return m.start - (seg.vaddr & ~(kPage - 1));
    }
  }
  return std::nullopt;
}

uint64_t InodeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  return st.st_ino;
}

}  // namespace goscope
