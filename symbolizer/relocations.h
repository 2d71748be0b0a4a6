// Pointers stored in a PIE binary's data are zero (or an addend) on disk and
// filled in by the dynamic loader from R_X86_64_RELATIVE relocations. Reading
// such a pointer from the file means applying its relocation ourselves.
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "elf_file.h"

namespace goscope {

class Relocations {
 public:
  explicit Relocations(const ElfFile& elf);

  // The pointer-sized value at vaddr as the loader leaves it (load bias 0).
  std::optional<uint64_t> ReadPointer(const ElfFile& elf, uint64_t vaddr) const;
  // Locations whose relocated value is `value` (for finding pointers to a known address).
  std::vector<uint64_t> LocationsOf(uint64_t value) const;
  bool empty() const { return relative_.empty(); }

 private:
  std::unordered_map<uint64_t, uint64_t> relative_;  // r_offset -> addend
};

}  // namespace goscope
