#include "elf_probe.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "error.h"

namespace goscope {

ElfGoHint ProbeElfForGo(int fd, const std::string& path) {
  auto read_at = [&](void* buf, size_t len, uint64_t off) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0) throw Error(fmt::format("{}: read: {}", path, std::strerror(errno)));
    return static_cast<size_t>(n) == len;
  };

  Elf64_Ehdr eh{};
  if (!read_at(&eh, sizeof eh, 0)) return ElfGoHint::kNotElf;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return ElfGoHint::kNotElf;
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return ElfGoHint::kNoSectionHeaders;

  // Past 0xff00 sections the real count and string-table index live in section 0.
  uint64_t shnum = eh.e_shnum;
  uint64_t shstrndx = eh.e_shstrndx;
  if (shnum == 0 || shstrndx == SHN_XINDEX) {
    Elf64_Shdr first{};
    if (!read_at(&first, sizeof first, eh.e_shoff)) return ElfGoHint::kNoSectionHeaders;
    if (shnum == 0) shnum = first.sh_size;
    if (shstrndx == SHN_XINDEX) shstrndx = first.sh_link;
  }
  if (shnum == 0 || shnum > 1 << 16 || shstrndx >= shnum) return ElfGoHint::kNoSectionHeaders;

  std::vector<Elf64_Shdr> sh(shnum);
  if (!read_at(sh.data(), shnum * sizeof(Elf64_Shdr), eh.e_shoff)) return ElfGoHint::kNoSectionHeaders;
  const Elf64_Shdr& strtab = sh[shstrndx];
  if (strtab.sh_size == 0 || strtab.sh_size > 1 << 20) return ElfGoHint::kNoSectionHeaders;
  std::string names(strtab.sh_size, '\0');
  if (!read_at(names.data(), names.size(), strtab.sh_offset)) return ElfGoHint::kNoSectionHeaders;

  // .gopclntab moves into .data.rel.ro in PIE builds; .go.buildinfo and the
  // Go build-id note survive external linking (cgo) and `-s -w`.
  static constexpr std::string_view kGoSections[] = {".gopclntab", ".data.rel.ro.gopclntab", ".go.buildinfo",
                                                     ".note.go.buildid"};
  for (const auto& s : sh) {
    if (s.sh_name >= names.size()) continue;
    std::string_view name(names.c_str() + s.sh_name);
    if (std::find(std::begin(kGoSections), std::end(kGoSections), name) != std::end(kGoSections))
      return ElfGoHint::kGoSections;
  }
  return ElfGoHint::kNoGoSections;
}

ElfGoHint ProbeElfForGo(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return ProbeElfForGo(fd, path);
}

}  // namespace goscope
