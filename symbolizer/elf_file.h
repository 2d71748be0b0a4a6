// A read-only view of a 64-bit little-endian ELF file (x86_64 Go binaries).
// Parsed by hand with bounds checks on every read, because its input is untrusted
// (any file a user points at, any /proc/PID/exe) and it is fuzzed.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace goscope {

using Bytes = std::span<const uint8_t>;

struct ElfSection {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t addr = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;  // sh_link: for .symtab, the index of its string table
};

struct ElfSegment {
  uint32_t type = 0;   // PT_LOAD, ...
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
  uint64_t vaddr = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};

struct ElfSymbol {
  std::string_view name;
  uint64_t value = 0;
  uint64_t size = 0;
  uint8_t type = 0;  // STT_FUNC, STT_OBJECT, ...
};

class ElfFile {
 public:
  // Maps the file read-only. Throws Error naming the path and what is wrong.
  static std::unique_ptr<ElfFile> Open(const std::string& path);
  // Parses bytes owned by the caller (fuzzing, tests). They must outlive the ElfFile.
  static std::unique_ptr<ElfFile> FromBytes(Bytes bytes, std::string name = "<memory>");
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  Bytes bytes() const { return bytes_; }
  uint16_t type() const { return type_; }  // ET_EXEC or ET_DYN
  bool is_pie() const;
  uint64_t entry() const { return entry_; }

  const std::vector<ElfSection>& sections() const { return sections_; }
  const std::vector<ElfSegment>& segments() const { return segments_; }
  const ElfSection* section(std::string_view name) const;
  // The section's bytes in the file (empty for SHT_NOBITS or out-of-range).
  Bytes section_data(const ElfSection& s) const;

  // Bytes of the file image at virtual address vaddr, up to the end of the
  // PT_LOAD segment's file-backed part; empty if vaddr is not file-backed.
  Bytes at_vaddr(uint64_t vaddr) const;
  std::optional<uint64_t> vaddr_to_offset(uint64_t vaddr) const;

  // .symtab symbols (absent in stripped binaries). Sorted by name for lookup.
  bool has_symtab() const { return !symbols_.empty(); }
  const ElfSymbol* symbol(std::string_view name) const;
  const std::vector<ElfSymbol>& symbols() const { return symbols_; }

  // Hex of the NT_GNU_BUILD_ID note, or the Go build id note, or "" if none.
  const std::string& build_id() const { return build_id_; }
  const std::string& go_build_id() const { return go_build_id_; }

 private:
  ElfFile() = default;
  void Parse();
  void ParseSymbols();
  void ParseNotes();

  std::string path_;
  Bytes bytes_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint16_t type_ = 0;
  uint64_t entry_ = 0;
  std::vector<ElfSection> sections_;
  std::vector<ElfSegment> segments_;
  std::vector<ElfSymbol> symbols_;
  std::string build_id_;
  std::string go_build_id_;
};

}  // namespace goscope
