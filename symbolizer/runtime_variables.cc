#include "runtime_variables.h"

#include <elf.h>

#include <cstdlib>

#include "dwarf_layout.h"
#include "error.h"
#include "x86_decoder.h"

namespace goscope {
namespace {

Bytes Code(const GoBinary& bin, const Func& f) {
  Bytes b = bin.elf().at_vaddr(f.entry);
  return b.subspan(0, std::min<uint64_t>(b.size(), f.end - f.entry));
}

std::vector<RipReference> RefsIn(const GoBinary& bin, std::string_view function) {
  const Func* f = bin.pclntab().LookupFunction(function);
  return f ? FindRipReferences(Code(bin, *f), f->entry) : std::vector<RipReference>{};
}

std::vector<RipReference> Loads8(const std::vector<RipReference>& refs) {
  std::vector<RipReference> out;
  for (const auto& r : refs)
    if (r.mnemonic == "mov" && r.access_size == 8) out.push_back(r);
  return out;
}

bool InWritableSegment(const GoBinary& bin, uint64_t addr) {
  for (const auto& s : bin.elf().segments())
    if (s.type == PT_LOAD && (s.flags & PF_W) && addr >= s.vaddr && addr < s.vaddr + s.memsz) return true;
  return false;
}

void Put(RuntimeLayout* l, const char* key, uint64_t v) { l->values[key] = {v, Source::kDisassembly}; }

// forEachG reads the allgs slice header: exactly two 8-byte loads, ptr then len.
void FindAllgs(const GoBinary& bin, RuntimeLayout* out) {
  auto loads = Loads8(RefsIn(bin, "runtime.forEachG"));
  if (loads.size() == 2 && loads[1].target == loads[0].target + 8 && InWritableSegment(bin, loads[0].target))
    Put(out, "runtime.allgs", loads[0].target);
  // forEachGRace must read allglen before allgptr (the runtime's ordering rule).
  auto race = Loads8(RefsIn(bin, "runtime.forEachGRace"));
  if (race.size() == 2 && InWritableSegment(bin, race[0].target)) Put(out, "runtime.allglen", race[0].target);
}

// allocmcache seeds nextSample from MemProfileRate: its only 8-byte RIP load.
// profilealloc (mProf_Malloc's only caller) must load the same variable.
void FindMemProfileRate(const GoBinary& bin, RuntimeLayout* out) {
  auto loads = Loads8(RefsIn(bin, "runtime.allocmcache"));
  if (loads.size() != 1 || !InWritableSegment(bin, loads[0].target)) return;
  for (const auto& r : Loads8(RefsIn(bin, "runtime.profilealloc")))
    if (r.target == loads[0].target) return Put(out, "runtime.MemProfileRate", r.target);
}

// waitReason.String: `cmp al, N; jb ...; lea rdx, [rip+X]` where X is the
// [N]string array in .data (the other LEA is the rodata "unknown wait reason").
void FindWaitReasonStrings(const GoBinary& bin, RuntimeLayout* out) {
  const Func* f = bin.pclntab().LookupFunction("runtime.waitReason.String");
  if (!f) return;
  uint64_t n = 0;
  for (const auto& in : Decode(Code(bin, *f), f->entry)) {
    if (in.mnemonic == "cmp" && in.operands.rfind("al, ", 0) == 0) {
      n = std::strtoull(in.operands.c_str() + 4, nullptr, 0);
      break;
    }
  }
  if (n == 0 || n > 255) return;
  for (const auto& r : RefsIn(bin, "runtime.waitReason.String")) {
    if (r.mnemonic == "lea" && InWritableSegment(bin, r.target)) {
      Put(out, "runtime.waitReasonStrings", r.target);
      Put(out, "runtime.waitReasonStrings#size", n * 16);
      return;
    }
  }
}

RuntimeLayout FromSymbols(const GoBinary& bin) {
  RuntimeLayout l;
  if (!bin.has_symtab()) return l;
  for (const LayoutItem& item : CanonicalLayoutItems()) {
    if (item.kind != LayoutKind::kVariable && item.kind != LayoutKind::kVariableSize) continue;
    const ElfSymbol* s = bin.elf().symbol(item.name);
    if (!s) continue;
    l.values[item.key()] = {item.kind == LayoutKind::kVariable ? s->value : s->size, Source::kSymtab};
  }
  return l;
}

}  // namespace

RuntimeLayout FindVariablesByDisassembly(const GoBinary& bin) {
  RuntimeLayout l;
  FindAllgs(bin, &l);
  FindMemProfileRate(bin, &l);
  FindWaitReasonStrings(bin, &l);
  return l;
}

RuntimeLayout ResolveRuntimeLayout(const GoBinary& bin, std::string* dwarf_error) {
  RuntimeLayout l;
  if (bin.has_dwarf()) {
    try {
      l = ReadDwarfLayout(bin.path());
    } catch (const Error& e) {  // corrupt DWARF: the other sources still stand
      if (dwarf_error) *dwarf_error = e.what();
    }
  }
  l.merge_missing(FromSymbols(bin));
  l.merge_missing(TableLayout(bin.go_version()));
  l.merge_missing(FindVariablesByDisassembly(bin));
  return l;
}

}  // namespace goscope
