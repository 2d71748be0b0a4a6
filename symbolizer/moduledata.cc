#include "moduledata.h"

#include <elf.h>

#include <cstring>

namespace goscope {
namespace {

// Field offsets in runtime.moduledata (amd64). 1.20 added covctrs/ecovctrs
// before end, moving gofunc by 16 bytes.
constexpr uint64_t kFuncnametabOffset = 8;
uint64_t GofuncOffset(PclntabFormat f) { return f == PclntabFormat::kGo120 ? 320 : 304; }

bool Validates(const ElfFile& elf, const Relocations& rel, const Pclntab& tab, uint64_t md) {
  auto first = rel.ReadPointer(elf, md);
  auto names = rel.ReadPointer(elf, md + kFuncnametabOffset);
  return first && names && *first == tab.vaddr() && *names == tab.vaddr() + tab.funcname_offset();
}

std::optional<Moduledata> Complete(const ElfFile& elf, const Relocations& rel, const Pclntab& tab, Sourced addr) {
  Moduledata m{addr, 0};
  if (tab.format() != PclntabFormat::kGo116) {
    auto g = rel.ReadPointer(elf, addr.value + GofuncOffset(tab.format()));
    if (!g || elf.at_vaddr(*g).empty()) return std::nullopt;
    m.gofunc = *g;
  }
  return m;
}

}  // namespace

std::optional<Moduledata> FindModuledata(const ElfFile& elf, const Relocations& rel, const Pclntab& tab) {
  if (const ElfSymbol* s = elf.symbol("runtime.firstmoduledata"))
    if (Validates(elf, rel, tab, s->value)) return Complete(elf, rel, tab, {s->value, Source::kSymtab});

  // PIE: the pointer is a relocation whose addend is the pclntab address.
  for (uint64_t where : rel.LocationsOf(tab.vaddr()))
    if (Validates(elf, rel, tab, where)) return Complete(elf, rel, tab, {where, Source::kPclntab});

  // Fixed-address binaries: the pointer is stored as is in a writable segment.
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || !(seg.flags & PF_W)) continue;
    Bytes d = elf.at_vaddr(seg.vaddr);
    for (uint64_t off = 0; off + 16 <= d.size(); off += 8) {
      uint64_t v;
      std::memcpy(&v, d.data() + off, 8);
      if (v == tab.vaddr() && Validates(elf, rel, tab, seg.vaddr + off))
        return Complete(elf, rel, tab, {seg.vaddr + off, Source::kPclntab});
    }
  }
  return std::nullopt;
}

}  // namespace goscope
