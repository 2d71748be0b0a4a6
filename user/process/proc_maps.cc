#include "process/proc_maps.h"

#include <elf.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_files.h"

namespace goscope {

std::vector<Mapping> ParseMaps(const std::string& text) {
  std::vector<Mapping> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Mapping m;
    char perms[8] = {};
    int path_at = 0;
    unsigned long long start, end, offset, inode;
    unsigned major, minor;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &major, &minor,
                    &inode, &path_at) < 7)
      continue;
    m.start = start, m.end = end, m.offset = offset, m.inode = inode, m.perms = perms;
    m.dev_major = major, m.dev_minor = minor;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) m.path = line.substr(path_at);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Mapping> ReadMaps(pid_t pid) {
  auto text = ReadProcFile(pid, "maps");
  if (!text) throw Error(fmt::format("process {} not found (no /proc/{}/maps)", pid, pid));
  return ParseMaps(*text);
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

}  // namespace goscope
