#include "runtime_variables.h"

#include <elf.h>

#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>

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

// runtime.work (the GC's record of a cycle): the one base at which gcStart,
// gcMarkDone and gcMarkTermination access all its fields, each with its own size.
void FindWork(const GoBinary& bin, const RuntimeLayout& layout, RuntimeLayout* out) {
  struct Field {
    const char* name;
    uint64_t offset;
    uint8_t size;
  };
  std::vector<Field> fields;
  for (const char* f : {"cycles", "userForced", "tSweepTerm", "tMark", "tMarkTerm", "tEnd", "pauseNS", "heap0", "heap1", "heap2"}) {
    Sourced v = layout.get(fmt::format("runtime.workType.{}", f));
    if (!v.known()) return;
    uint8_t size = std::string_view(f) == "userForced" ? 1 : std::string_view(f) == "cycles" ? 4 : 8;
    fields.push_back({f, v.value, size});
  }
  // The int64 fields sit 8 bytes apart, so a base shifted by 8 explains
  // nearly as many 8-byte accesses as the true one; the byte-sized userForced
  // (SETcc in gcStart) and the 4-byte cycles (INCL in gcStart up to 1.19, the
  // LEA feeding LOCK XADDL from 1.21) pin it down. A reference counts only
  // with the field's own access size (or as a LEA, for cycles).
  std::map<uint64_t, std::set<std::string_view>> votes;  // candidate base -> fields it explains
  for (const char* name : {"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination"}) {
    const Func* f = bin.pclntab().LookupFunction(name);
    if (!f) return;
    for (const RipReference& r : FindRipReferences(Code(bin, *f), f->entry))
      for (const Field& field : fields)
        if ((r.access_size == field.size || (field.size == 4 && r.mnemonic == "lea")) && r.target >= field.offset)
          votes[r.target - field.offset].insert(field.name);
  }
  std::vector<uint64_t> complete;
  for (const auto& [base, fs] : votes)
    if (fs.size() == fields.size()) complete.push_back(base);
  if (complete.size() == 1 && InWritableSegment(bin, complete[0])) Put(out, "runtime.work", complete[0]);
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

RuntimeLayout FindVariablesByDisassembly(const GoBinary& bin, const RuntimeLayout& offsets) {
  RuntimeLayout l;
  FindAllgs(bin, &l);
  FindMemProfileRate(bin, &l);
  FindWaitReasonStrings(bin, &l);
  FindWork(bin, offsets, &l);
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
  l.merge_missing(FindVariablesByDisassembly(bin, l));
  return l;
}

}  // namespace goscope
