#include "relocations.h"

#include <elf.h>

#include <cstring>

namespace goscope {

Relocations::Relocations(const ElfFile& elf) {
  for (const auto& s : elf.sections()) {
    if (s.type != SHT_RELA) continue;
    Bytes d = elf.section_data(s);
    for (size_t off = 0; off + sizeof(Elf64_Rela) <= d.size(); off += sizeof(Elf64_Rela)) {
      Elf64_Rela r;
      std::memcpy(&r, d.data() + off, sizeof r);
      if (ELF64_R_TYPE(r.r_info) == R_X86_64_RELATIVE) relative_[r.r_offset] = r.r_addend;
    }
  }
}

std::optional<uint64_t> Relocations::ReadPointer(const ElfFile& elf, uint64_t vaddr) const {
  if (auto it = relative_.find(vaddr); it != relative_.end()) return it->second;
  Bytes b = elf.at_vaddr(vaddr);
  if (b.size() < 8) return std::nullopt;
  uint64_t v;
  std::memcpy(&v, b.data(), 8);
  return v;
}

std::vector<uint64_t> Relocations::LocationsOf(uint64_t value) const {
  std::vector<uint64_t> out;
  for (const auto& [where, addend] : relative_)
    if (addend == value) out.push_back(where);
  return out;
}

}  // namespace goscope
