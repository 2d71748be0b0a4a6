#include "moduledata.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "runtime_layout.h"

namespace goscope {
namespace {

// Field offsets in runtime.moduledata (amd64). The slices before text have not
// moved since 1.16; gofunc moved in 1.20 (covctrs) and 1.27 (typedesclen,
// itaboffset, itabsize), so it comes from the layout table.
constexpr uint64_t kFuncnametabOffset = 8;
constexpr uint64_t kTextOffset = 176;

bool Validates(const ElfFile& elf, const Relocations& rel, const Pclntab& tab, uint64_t md) {
  auto first = rel.ReadPointer(elf, md);
  auto names = rel.ReadPointer(elf, md + kFuncnametabOffset);
  return first && names && *first == tab.vaddr() && *names == tab.vaddr() + tab.funcname_offset();
}

bool InSegment(const ElfFile& elf, uint64_t vaddr, bool executable) {
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || vaddr < seg.vaddr || vaddr >= seg.vaddr + seg.memsz) continue;
    return ((seg.flags & PF_X) != 0) == executable;
  }
  return false;
}

// gofunc's offset for this release: its own row of the layout table; for a
// release the table skips (1.20: no Debian toolchain), the next newer one's,
// which shares its layout here; for one newer than the table, the newest's.
// Validated by the caller: it must point at read-only data.
std::optional<uint64_t> GofuncOffset(std::string_view go_version) {
  const int minor = GoMinorVersion(go_version);
  auto minors = TableMinorVersions();
  if (minor < 0 || minors.empty()) return std::nullopt;
  auto at = std::lower_bound(minors.begin(), minors.end(), minor);
  const int row = at == minors.end() ? minors.back() : *at;
  return TableLayout("go1." + std::to_string(row)).get("runtime.moduledata.gofunc").value;
}

std::optional<Moduledata> Complete(const ElfFile& elf, const Relocations& rel, const Pclntab& tab, Sourced addr,
                                   std::string_view go_version) {
  Moduledata m{addr, 0, 0};
  auto text = rel.ReadPointer(elf, addr.value + kTextOffset);
  if (!text || !InSegment(elf, *text, true)) return std::nullopt;
  m.text = *text;
  if (tab.format() != PclntabFormat::kGo116) {
    if (auto off = GofuncOffset(go_version)) {
      auto g = rel.ReadPointer(elf, addr.value + *off);
      if (g && InSegment(elf, *g, false)) m.gofunc = *g;
    }
  }
  return m;
}

}  // namespace

std::optional<Moduledata> FindModuledata(const ElfFile& elf, const Relocations& rel, const Pclntab& tab,
                                         std::string_view go_version) {
  if (const ElfSymbol* s = elf.symbol("runtime.firstmoduledata"))
    if (Validates(elf, rel, tab, s->value))
      return Complete(elf, rel, tab, {s->value, Source::kSymtab}, go_version);

  // PIE: the pointer is a relocation whose addend is the pclntab address.
  for (uint64_t where : rel.LocationsOf(tab.vaddr()))
    if (Validates(elf, rel, tab, where)) return Complete(elf, rel, tab, {where, Source::kPclntab}, go_version);

  // Fixed-address binaries: the pointer is stored as is in a writable segment.
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || !(seg.flags & PF_W)) continue;
    Bytes d = elf.at_vaddr(seg.vaddr);
    for (uint64_t off = 0; off + 16 <= d.size(); off += 8) {
      uint64_t v;
      std::memcpy(&v, d.data() + off, 8);
      if (v == tab.vaddr() && Validates(elf, rel, tab, seg.vaddr + off))
        return Complete(elf, rel, tab, {seg.vaddr + off, Source::kPclntab}, go_version);
    }
  }
  return std::nullopt;
}

}  // namespace goscope
