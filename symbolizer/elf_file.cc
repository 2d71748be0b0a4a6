#include "elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

// Copies a T out of bytes at off, or throws: the file may be truncated or lying.
template <typename T>
T ReadAt(Bytes b, uint64_t off, const std::string& path, const char* what) {
  if (off > b.size() || b.size() - off < sizeof(T))
    throw Error(fmt::format("{}: truncated ELF: {} at offset {:#x} is past the end ({} bytes)",
                            path, what, off, b.size()));
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

std::string_view CString(Bytes b, uint64_t off) {
  if (off >= b.size()) return {};
  auto* p = reinterpret_cast<const char*>(b.data() + off);
  return {p, strnlen(p, b.size() - off)};
}

std::string Hex(Bytes b) {
  std::string s;
  for (uint8_t c : b) s += fmt::format("{:02x}", c);
  return s;
}

}  // namespace

std::unique_ptr<ElfFile> ElfFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("{}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{}: not a regular file", path));
  }
  if (st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    ::close(fd);
    throw Error(fmt::format("{}: not an ELF file ({} bytes)", path, st.st_size));
  }
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error(fmt::format("{}: mmap: {}", path, std::strerror(errno)));
  std::unique_ptr<ElfFile> f(new ElfFile);
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = st.st_size;
  f->bytes_ = Bytes(static_cast<const uint8_t*>(map), st.st_size);
  f->Parse();
  return f;
}

std::unique_ptr<ElfFile> ElfFile::FromBytes(Bytes bytes, std::string name) {
  std::unique_ptr<ElfFile> f(new ElfFile);
  f->path_ = std::move(name);
  f->bytes_ = bytes;
  f->Parse();
  return f;
}

ElfFile::~ElfFile() {
  if (map_) munmap(map_, map_size_);
}

bool ElfFile::is_pie() const { return type_ == ET_DYN; }

void ElfFile::Parse() {
  if (bytes_.size() < EI_NIDENT || std::memcmp(bytes_.data(), ELFMAG, SELFMAG) != 0)
    throw Error(fmt::format("{}: not an ELF file", path_));
  if (bytes_[EI_CLASS] != ELFCLASS64 || bytes_[EI_DATA] != ELFDATA2LSB)
    throw Error(fmt::format("{}: only 64-bit little-endian ELF is supported", path_));
  auto eh = ReadAt<Elf64_Ehdr>(bytes_, 0, path_, "ELF header");
  if (eh.e_machine != EM_X86_64)
    throw Error(fmt::format("{}: unsupported machine {} (goscope supports x86_64)", path_, eh.e_machine));
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
    throw Error(fmt::format("{}: not an executable (ELF type {})", path_, eh.e_type));
  type_ = eh.e_type;
  entry_ = eh.e_entry;

  if (eh.e_phnum > 4096 || eh.e_shnum > 65280)
    throw Error(fmt::format("{}: corrupt ELF header (phnum {}, shnum {})", path_, eh.e_phnum, eh.e_shnum));
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    auto ph = ReadAt<Elf64_Phdr>(bytes_, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr), path_, "program header");
    segments_.push_back({ph.p_type, ph.p_flags, ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
  }

  if (eh.e_shnum > 0) {
    std::vector<Elf64_Shdr> sh;
    for (unsigned i = 0; i < eh.e_shnum; i++)
      sh.push_back(ReadAt<Elf64_Shdr>(bytes_, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr), path_, "section header"));
    Bytes names;
    if (eh.e_shstrndx < sh.size()) {
      const auto& s = sh[eh.e_shstrndx];
      if (s.sh_offset <= bytes_.size() && s.sh_size <= bytes_.size() - s.sh_offset)
        names = bytes_.subspan(s.sh_offset, s.sh_size);
    }
    for (const auto& s : sh)
      sections_.push_back({std::string(CString(names, s.sh_name)), s.sh_type, s.sh_flags, s.sh_addr,
                           s.sh_offset, s.sh_size, s.sh_link});
  }
  ParseSymbols();
  ParseNotes();
}

const ElfSection* ElfFile::section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

Bytes ElfFile::section_data(const ElfSection& s) const {
  if (s.type == SHT_NOBITS || s.offset > bytes_.size() || s.size > bytes_.size() - s.offset) return {};
  return bytes_.subspan(s.offset, s.size);
}

std::optional<uint64_t> ElfFile::vaddr_to_offset(uint64_t vaddr) const {
  for (const auto& p : segments_) {
    if (p.type != PT_LOAD || vaddr < p.vaddr || vaddr - p.vaddr >= p.filesz) continue;
    uint64_t off = p.offset + (vaddr - p.vaddr);
    if (off < bytes_.size()) return off;
  }
  return std::nullopt;
}

Bytes ElfFile::at_vaddr(uint64_t vaddr) const {
  for (const auto& p : segments_) {
    if (p.type != PT_LOAD || vaddr < p.vaddr || vaddr - p.vaddr >= p.filesz) continue;
    uint64_t off = p.offset + (vaddr - p.vaddr);
    uint64_t end = std::min<uint64_t>(p.offset + p.filesz, bytes_.size());
    if (off >= end) return {};
    return bytes_.subspan(off, end - off);
  }
  return {};
}

void ElfFile::ParseSymbols() {
  const ElfSection* symtab = section(".symtab");
  if (!symtab || symtab->type != SHT_SYMTAB) return;
  Bytes syms = section_data(*symtab);
  Bytes strs;
  if (symtab->link < sections_.size()) strs = section_data(sections_[symtab->link]);
  size_t n = syms.size() / sizeof(Elf64_Sym);
  symbols_.reserve(n);
  for (size_t i = 0; i < n; i++) {
    Elf64_Sym sym;
    std::memcpy(&sym, syms.data() + i * sizeof(Elf64_Sym), sizeof sym);
    std::string_view name = CString(strs, sym.st_name);
    if (name.empty()) continue;
    symbols_.push_back({name, sym.st_value, sym.st_size, static_cast<uint8_t>(ELF64_ST_TYPE(sym.st_info))});
  }
  std::stable_sort(symbols_.begin(), symbols_.end(),
                   [](const ElfSymbol& a, const ElfSymbol& b) { return a.name < b.name; });
}

const ElfSymbol* ElfFile::symbol(std::string_view name) const {
  auto it = std::lower_bound(symbols_.begin(), symbols_.end(), name,
                             [](const ElfSymbol& s, std::string_view n) { return s.name < n; });
  return it != symbols_.end() && it->name == name ? &*it : nullptr;
}

void ElfFile::ParseNotes() {
  for (const auto& s : sections_) {
    if (s.type != SHT_NOTE) continue;
    Bytes d = section_data(s);
    uint64_t off = 0;
    while (d.size() - off >= sizeof(Elf64_Nhdr)) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, d.data() + off, sizeof nh);
      uint64_t name_off = off + sizeof nh;
      uint64_t desc_off = name_off + ((uint64_t{nh.n_namesz} + 3) & ~uint64_t{3});
      uint64_t next = desc_off + ((uint64_t{nh.n_descsz} + 3) & ~uint64_t{3});
      if (next > d.size() || next <= off) break;
      std::string_view name = CString(d.subspan(name_off, nh.n_namesz), 0);
      Bytes desc = d.subspan(desc_off, nh.n_descsz);
      if (nh.n_type == NT_GNU_BUILD_ID && name == "GNU") build_id_ = Hex(desc);
      if (nh.n_type == 4 && name == "Go")  // Go's ELF note type for the build ID
        go_build_id_.assign(reinterpret_cast<const char*>(desc.data()), desc.size());
      off = next;
    }
  }
}

}  // namespace goscope
