#include "runtime_variables.h"

#include <elf.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>

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

// A field a recipe expects its functions to access: by its own size, or (lea)
// by taking its address.
struct Access {
  const char* field;
  uint8_t size;
  bool lea = false;
};

// The one base at which the named functions access every listed field of
// type_name, each as the recipe expects. The 8-byte fields of a struct sit 8
// bytes apart, so a base shifted by 8 explains nearly as many 8-byte accesses
// as the true one; fields of other sizes and taken addresses pin it down.
std::optional<uint64_t> BaseExplainingAccesses(const GoBinary& bin, const RuntimeLayout& layout,
                                               std::string_view type_name,
                                               std::initializer_list<const char*> functions,
                                               std::initializer_list<Access> accesses) {
  struct Field {
    Access access;
    uint64_t offset;
  };
  std::vector<Field> fields;
  for (const Access& a : accesses) {
    Sourced v = layout.get(fmt::format("{}.{}", type_name, a.field));
    if (!v.known()) return std::nullopt;
    fields.push_back({a, v.value});
  }
  std::map<uint64_t, std::set<std::string_view>> votes;  // candidate base -> fields it explains
  for (const char* name : functions) {
    const Func* f = bin.pclntab().LookupFunction(name);
    if (!f) return std::nullopt;
    for (const RipReference& r : FindRipReferences(Code(bin, *f), f->entry))
      for (const Field& field : fields)
        if ((r.access_size == field.access.size || (field.access.lea && r.mnemonic == "lea")) &&
            r.target >= field.offset)
          votes[r.target - field.offset].insert(field.access.field);
  }
  std::vector<uint64_t> complete;
  for (const auto& [base, fs] : votes)
    if (fs.size() == fields.size()) complete.push_back(base);
  if (complete.size() != 1 || !InWritableSegment(bin, complete[0])) return std::nullopt;
  return complete[0];
}

// runtime.work (the GC's record of a cycle): gcStart, gcMarkDone and
// gcMarkTermination access all its fields. The byte-sized userForced (SETcc
// in gcStart) and the 4-byte cycles (INCL in gcStart up to 1.19, the LEA
// feeding LOCK XADDL from 1.21) pin the base.
void FindWork(const GoBinary& bin, const RuntimeLayout& layout, RuntimeLayout* out) {
  auto base = BaseExplainingAccesses(bin, layout, "runtime.workType",
                                     {"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination"},
                                     {{"cycles", 4, true}, {"userForced", 1}, {"tSweepTerm", 8}, {"tMark", 8},
                                      {"tMarkTerm", 8}, {"tEnd", 8}, {"pauseNS", 8}, {"heap0", 8},
                                      {"heap1", 8}, {"heap2", 8}});
  if (base) Put(out, "runtime.work", *base);
}

// runtime.memstats: gcMarkTermination counts the cycle (INCL numgc, and
// numforcedgc beside it), adds the pause, records it in the pause rings and
// updates gc_cpu_fraction (MOVSD).
void FindMemstats(const GoBinary& bin, const RuntimeLayout& layout, RuntimeLayout* out) {
  auto base = BaseExplainingAccesses(bin, layout, "runtime.mstats", {"runtime.gcMarkTermination"},
                                     {{"numgc", 4}, {"numforcedgc", 4}, {"pause_total_ns", 8},
                                      {"gc_cpu_fraction", 8}, {"pause_ns", 8, true}, {"pause_end", 8, true}});
  if (base) Put(out, "runtime.memstats", *base);
}

// runtime.sched: checkdead computes mcount() - nmidle - nmidlelocked - nmsys
// (two 8-byte and three 4-byte fields).
void FindSched(const GoBinary& bin, const RuntimeLayout& layout, RuntimeLayout* out) {
  auto base = BaseExplainingAccesses(bin, layout, "runtime.schedt", {"runtime.checkdead"},
                                     {{"mnext", 8}, {"nmfreed", 8}, {"nmidle", 4}, {"nmidlelocked", 4}, {"nmsys", 4}});
  if (base) Put(out, "runtime.sched", *base);
}

// What found(name) yields for every one of the named functions: the
// addresses they all agree on.
std::set<uint64_t> FoundInAll(std::initializer_list<const char*> functions,
                              const std::function<std::set<uint64_t>(const char*)>& found) {
  std::set<uint64_t> common;
  bool first = true;
  for (const char* name : functions) {
    std::set<uint64_t> here = found(name);
    if (!first) std::erase_if(here, [&](uint64_t a) { return !common.contains(a); });
    common = std::move(here);
    first = false;
  }
  return common;
}

// Writable addresses the function takes with a RIP-relative LEA.
std::set<uint64_t> WritableLeas(const GoBinary& bin, const char* function) {
  std::set<uint64_t> out;
  for (const auto& r : RefsIn(bin, function))
    if (r.mnemonic == "lea" && InWritableSegment(bin, r.target)) out.insert(r.target);
  return out;
}

// Whether an instruction between `lea rax, [rip + X]` and a call leaves RAX
// (and so the receiver X) alone: nops, and moves into other registers or memory.
bool LeavesRax(const Instruction& in) {
  if (in.mnemonic == "nop" || (in.mnemonic == "xchg" && in.operands == "ax, ax")) return true;
  if (in.mnemonic.rfind("mov", 0) != 0) return false;
  std::string_view dest = std::string_view(in.operands).substr(0, in.operands.find(','));
  return dest != "rax" && dest != "eax" && dest != "ax" && dest != "al" && dest != "ah";
}

// Writable addresses the function passes as the receiver of its calls to
// methods whose names start with `methods`: Go's register ABI (1.17+) takes
// the receiver in RAX, loaded by a RIP-relative `lea rax` that only
// RAX-preserving argument moves separate from the call.
std::set<uint64_t> ReceiversPassed(const GoBinary& bin, const char* function, std::string_view methods) {
  std::set<uint64_t> out;
  const Func* f = bin.pclntab().LookupFunction(function);
  if (!f) return out;
  std::map<uint64_t, uint64_t> leas;  // instruction address -> RIP-relative target
  for (const auto& r : FindRipReferences(Code(bin, *f), f->entry))
    if (r.mnemonic == "lea") leas[r.insn_address] = r.target;
  uint64_t rax = 0;  // X of the last `lea rax, [rip + X]` while RAX still holds it, else 0
  for (const auto& in : Decode(Code(bin, *f), f->entry)) {
    if (in.mnemonic == "call") {
      const Func* callee = bin.pclntab().FindFunc(std::strtoull(in.operands.c_str(), nullptr, 0));
      if (rax && callee && callee->name.starts_with(methods) && InWritableSegment(bin, rax)) out.insert(rax);
      rax = 0;
    } else if (in.mnemonic == "lea" && in.operands.rfind("rax, ", 0) == 0 && leas.contains(in.address)) {
      rax = leas[in.address];
    } else if (!LeavesRax(in)) {
      rax = 0;
    }
  }
  return out;
}

// runtime.gcController: gcinit, gcStart and gcControllerCommit each take its
// address (method receivers); gcControllerCommit also loads its memoryLimit.
void FindGcController(const GoBinary& bin, const RuntimeLayout& layout, RuntimeLayout* out) {
  Sourced limit = layout.get("runtime.gcControllerState.memoryLimit");
  if (!limit.known()) return;
  std::set<uint64_t> common =
      FoundInAll({"runtime.gcinit", "runtime.gcStart", "runtime.gcControllerCommit"},
                 [&](const char* name) { return WritableLeas(bin, name); });
  std::vector<uint64_t> found;
  for (uint64_t base : common)
    for (const auto& r : Loads8(RefsIn(bin, "runtime.gcControllerCommit")))
      if (r.target == base + limit.value) found.push_back(base);
  if (found.size() == 1) Put(out, "runtime.gcController", found[0]);
}

// runtime.allp: a slice whose {ptr, len} checkdead, gcStart and
// stopTheWorldWithSema all load as adjacent 8-byte words.
void FindAllp(const GoBinary& bin, RuntimeLayout* out) {
  std::set<uint64_t> common =
      FoundInAll({"runtime.checkdead", "runtime.gcStart", "runtime.stopTheWorldWithSema"}, [&](const char* name) {
        std::set<uint64_t> targets, pairs;
        for (const auto& r : Loads8(RefsIn(bin, name))) targets.insert(r.target);
        for (uint64_t t : targets)
          if (targets.contains(t + 8) && InWritableSegment(bin, t)) pairs.insert(t);
        return pairs;
      });
  if (common.size() == 1) Put(out, "runtime.allp", *common.begin());
}

// runtime.mheap_: the receiver that (*mcentral).grow and (*mcache).allocLarge
// pass to (*mheap).alloc, stackalloc to (*mheap).allocManual and stackfree to
// (*mheap).freeManual. (Its lock is at offset 0, so lock(&mheap_.lock) takes
// the same address; what the four agree on must be one address.)
void FindMheap(const GoBinary& bin, RuntimeLayout* out) {
  std::set<uint64_t> common = FoundInAll(
      {"runtime.(*mcentral).grow", "runtime.(*mcache).allocLarge", "runtime.stackalloc", "runtime.stackfree"},
      [&](const char* name) { return ReceiversPassed(bin, name, "runtime.(*mheap)."); });
  if (common.size() == 1) Put(out, "runtime.mheap_", *common.begin());
}

// runtime.semtable: semacquire1 and semrelease1 find a semaphore's semaRoot
// inline (semroot: &semtable[(addr>>3)%251].root), from a LEA of the table in
// .bss; it is the one writable address both take.
void FindSemtable(const GoBinary& bin, RuntimeLayout* out) {
  std::set<uint64_t> common = FoundInAll({"runtime.semacquire1", "runtime.semrelease1"},
                                         [&](const char* name) { return WritableLeas(bin, name); });
  if (common.size() == 1) Put(out, "runtime.semtable", *common.begin());
}

// runtime.mbuckets (the memory profile's buckets): mProf_FlushLocked walks
// them from its one 8-byte RIP load; stkbucket, which links a new bucket in,
// must take the same variable (a LEA in every release: the list head is
// passed by address, or updated atomically).
void FindMbuckets(const GoBinary& bin, RuntimeLayout* out) {
  auto loads = Loads8(RefsIn(bin, "runtime.mProf_FlushLocked"));
  if (loads.size() != 1 || !InWritableSegment(bin, loads[0].target)) return;
  for (const auto& r : RefsIn(bin, "runtime.stkbucket"))
    if (r.target == loads[0].target && (r.access_size == 8 || r.mnemonic == "lea"))
      return Put(out, "runtime.mbuckets", r.target);
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
  FindMemstats(bin, offsets, &l);
  FindSched(bin, offsets, &l);
  FindGcController(bin, offsets, &l);
  FindAllp(bin, &l);
  FindMheap(bin, &l);
  FindSemtable(bin, &l);
  FindMbuckets(bin, &l);
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
