#include "probe_sites.h"

#include <fmt/format.h>

#include <regex>

#include "go_names.h"
#include "x86_decoder.h"

namespace goscope {
namespace {

struct PurposeInfo {
  ProbePurpose purpose;
  std::string_view name;
  std::string_view function;
};

constexpr PurposeInfo kPurposes[] = {
    {ProbePurpose::kGoroutineCreate, "goroutine_create", "runtime.newproc1"},
    {ProbePurpose::kGoroutineNewG, "goroutine_new_g", "runtime.newproc.func1"},
    {ProbePurpose::kGoroutineNewGOther, "goroutine_new_g_other", "runtime.newproc1"},
    {ProbePurpose::kGoroutineExit, "goroutine_exit", "runtime.goexit1"},
    {ProbePurpose::kMalloc, "malloc", "runtime.mallocgc"},
    {ProbePurpose::kMallocSpecialized, "malloc_specialized", "runtime.mallocgc*SC*"},
    {ProbePurpose::kGcStart, "gc_start", "runtime.gcStart"},
    {ProbePurpose::kGcMarkDone, "gc_mark_done", "runtime.gcMarkDone"},
    {ProbePurpose::kGcMarkTermination, "gc_mark_termination", "runtime.gcMarkTermination"},
    {ProbePurpose::kStopTheWorld, "stop_the_world", "runtime.stopTheWorldWithSema"},
    {ProbePurpose::kStartTheWorld, "start_the_world", "runtime.startTheWorldWithSema"},
    {ProbePurpose::kInitFunctions, "init_functions", "PKG.init*"},
    {ProbePurpose::kRuntimeInitDone, "runtime_init_done", "runtime.gcenable"},
    {ProbePurpose::kMainMain, "main_main", "main.main"},
};

Bytes Code(const GoBinary& bin, const Func& f) {
  Bytes b = bin.elf().at_vaddr(f.entry);
  return b.subspan(0, std::min<uint64_t>(b.size(), f.end - f.entry));
}

// A probe at a function's entry runs again whenever the stack check sends the
// call through morestack (stack growth, or a preemption request that cannot
// be honoured, which is frequent while the GC runs: morestack re-enters at the
// entry). Filtering that pass in BPF by re-evaluating the check is racy at a
// single-stepped probe: the GC sets stackguard0 = stackPreempt from another
// thread, often while the probed thread is inside the trap, after the BPF
// program read it (measured: one extra count per GC cycle). go1.19's
// prologues have no emulated instruction after the stack check (`sub rsp, N`
// frames), so symbolizer/probe_sites gives their entries; move such a probe to
// the first instruction after the check's last branch instead. It is
// single-stepped like the entry (same cost), runs once per completed call, and
// sees RSP and every argument register as at entry: the check writes only R12
// and flags. Returns the address unchanged when the site is not an entry or the
// prologue is not one of the runtime's three stack-check shapes (NOSPLIT
// functions have none and run their entry once per call).
uint64_t PastStackCheck(const GoBinary& bin, const Func* f) {
  uint64_t address = f->entry;
  Bytes code = bin.elf().at_vaddr(f->entry);
  code = code.subspan(0, std::min<size_t>(code.size(), std::min<uint64_t>(64, f->end - f->entry)));
  std::vector<Instruction> in = Decode(code, f->entry);
  static const std::regex guard_cmp(R"(^(rsp|r12), qword ptr \[r14 \+ (0x[0-9a-f]+|\d+)\]$)");
  static const std::regex lea(R"(^r12, \[rsp - (0x[0-9a-f]+|\d+)\]$)");
  static const std::regex sub(R"(^r12, (0x[0-9a-f]+|\d+)$)");
  auto at = [&](size_t i, const char* mnemonic) { return i < in.size() && in[i].mnemonic == mnemonic; };
  auto match = [&](size_t i, const std::regex& re, const char* reg) {
    std::smatch m;
    return i < in.size() && std::regex_match(in[i].operands, m, re) && (!reg || m[1] == reg);
  };
  size_t next = 0;
  if (at(0, "cmp") && match(0, guard_cmp, "rsp") && at(1, "jbe")) {
    next = 2;  // cmp rsp, [r14+16]; jbe morestack
  } else if (at(0, "lea") && match(0, lea, nullptr) && at(1, "cmp") && match(1, guard_cmp, "r12") && at(2, "jbe")) {
    next = 3;  // lea r12, [rsp-N]; cmp r12, [r14+16]; jbe morestack
  } else if (at(0, "mov") && in[0].operands == "r12, rsp" && at(1, "sub") && match(1, sub, nullptr) && at(2, "jb") &&
             at(3, "cmp") && match(3, guard_cmp, "r12") && at(4, "jbe")) {
    next = 5;  // mov r12, rsp; sub r12, N; jb morestack; cmp r12, [r14+16]; jbe morestack
  } else {
    return address;
  }
  while (next < in.size() && in[next].mnemonic.starts_with("nop")) ++next;
  if (next >= in.size()) return address;
  // The branches must leave forward, past the site (to the morestack stub at the end).
  for (size_t i = 0; i < next; ++i) {
    if (in[i].mnemonic != "jbe" && in[i].mnemonic != "jb") continue;
    uint64_t target = std::stoull(in[i].operands, nullptr, 0);
    if (target <= in[next].address || target >= f->end) return address;
  }
  return in[next].address;
}

// The cheapest exact entry site: the first emulated instruction after the stack
// check, where every argument register and RSP still hold their entry values.
// branch_ok: the site may be the stack check's branch (the probe then skips
// the pass that goes to morestack); sites of many addresses share one flag,
// so they keep to sites that run once per call.
ProbeSite EntrySiteOf(const GoBinary& bin, ProbePurpose p, const Func& f, bool branch_ok = true) {
  ProbeSite s{p, std::string(f.name), f.entry, {}, "", "", ""};
  Bytes code = Code(bin, f);
  if (code.empty()) {
    s.error = fmt::format("{}: code not in the file", f.name);
    return s;
  }
  auto cheap = FindCheapEntrySite(code, f.entry);
  if (cheap && cheap->at_stack_check_branch && !branch_ok) cheap.reset();
  if (cheap) {
    s.addresses = {cheap->address};
    s.at_stack_check_branch = cheap->at_stack_check_branch;
    s.how = fmt::format("entry+{}: {}", cheap->address - f.entry, cheap->why);
  } else if (uint64_t past = PastStackCheck(bin, &f); past != f.entry) {
    // Still single-stepped, but unlike the entry it runs once per call: the
    // entry runs again after every morestack (and every refused preemption).
    s.addresses = {past};
    s.how = fmt::format("entry+{}: first instruction after the stack check (single-stepped)", past - f.entry);
  } else {
    s.addresses = {f.entry};
    s.how = "entry (no stack check to step past; single-stepped)";
  }
  return s;
}

// newproc's closure calls runqput(pp, newg, true) straight after newproc1 in
// every supported release: at that CALL, BX holds the new g. An emulated CALL
// is far cheaper than a probe on each of newproc1's RETs.
ProbeSite NewGSite(const GoBinary& bin) {
  const Pclntab& tab = bin.pclntab();
  ProbeSite s{ProbePurpose::kGoroutineNewG, "runtime.newproc.func1", 0, {}, "", "", ""};
  const Func* closure = tab.LookupFunction("runtime.newproc.func1");
  const Func* runqput = tab.LookupFunction("runtime.runqput");
  const Func* newproc1 = tab.LookupFunction("runtime.newproc1");
  if (closure && runqput && newproc1) {
    s.function_entry = closure->entry;
    Bytes code = Code(bin, *closure);
    auto to_newproc1 = FindCallsTo(code, closure->entry, newproc1->entry);
    auto to_runqput = FindCallsTo(code, closure->entry, runqput->entry);
    if (to_newproc1.size() == 1 && to_runqput.size() == 1 && to_runqput[0] > to_newproc1[0]) {
      s.addresses = to_runqput;
      s.how = fmt::format("entry+{}: call runtime.runqput (BX = new g)", to_runqput[0] - closure->entry);
      s.value_reg = "bx";
      return s;
    }
  }
  // Fallback: every RET of newproc1, where AX holds the new g. Costly (single-stepped).
  if (!newproc1) {
    s.error = "runtime.newproc1 not found";
    return s;
  }
  s.function = std::string(newproc1->name);
  s.function_entry = newproc1->entry;
  s.addresses = FunctionRets(bin, *newproc1);
  s.how = "ret of runtime.newproc1 (AX = new g)";
  s.value_reg = "ax";
  if (s.addresses.empty()) s.error = "runtime.newproc1 has no RET the decoder could find";
  return s;
}

// newproc1 has callers besides newproc's closure in some releases (newcoro's
// closure in 1.23+, for iter.Pull). Probing each of their return sites sees
// those goroutines without a probe on newproc1's own RET, which would also
// fire (single-stepped) for every ordinary go statement.
ProbeSite OtherNewGSites(const GoBinary& bin) {
  const Pclntab& tab = bin.pclntab();
  ProbeSite s{ProbePurpose::kGoroutineNewGOther, "runtime.newproc1", 0, {}, "", "", ""};
  const Func* newproc1 = tab.LookupFunction("runtime.newproc1");
  if (!newproc1) {
    s.error = "runtime.newproc1 not found";
    return s;
  }
  s.function_entry = newproc1->entry;
  std::vector<std::string> callers;
  for (const Func& f : tab.funcs()) {
    if (!f.name.starts_with("runtime.") || f.name == "runtime.newproc.func1" || f.func_id != 0) continue;
    Bytes code = Code(bin, f);
    for (uint64_t call : FindCallsTo(code, f.entry, newproc1->entry)) {
      auto insns = Decode(code.subspan(call - f.entry), call);
      if (insns.size() < 2) continue;
      s.addresses.push_back(insns[1].address);  // the instruction the call returns to
      callers.push_back(std::string(f.name));
    }
  }
  if (!callers.empty()) {
    s.value_reg = "ax";
    s.how = "return site of newproc1 (AX = new g) in";
    for (const auto& c : callers) s.how += " " + c;
  }
  return s;
}

// Goroutines end in gdestroy (1.22+) whether they return (goexit0) or are
// coroutines that finish (coroswitch_m), and only the first path passes
// goexit1. Where gdestroy exists and goexit0 really calls it, probe it (AX =
// the dead g); else goexit1, on the exiting goroutine itself (R14).
ProbeSite ExitSite(const GoBinary& bin) {
  const Pclntab& tab = bin.pclntab();
  const Func* gdestroy = tab.LookupFunction("runtime.gdestroy");
  const Func* goexit0 = tab.LookupFunction("runtime.goexit0");
  if (gdestroy && goexit0 && !FindCallsTo(Code(bin, *goexit0), goexit0->entry, gdestroy->entry).empty()) {
    ProbeSite s = EntrySiteOf(bin, ProbePurpose::kGoroutineExit, *gdestroy);
    s.value_reg = "ax";
    return s;
  }
  const Func* goexit1 = tab.LookupFunction("runtime.goexit1");
  if (!goexit1) {
    ProbeSite s{ProbePurpose::kGoroutineExit, "runtime.goexit1", 0, {}, "", "", ""};
    s.error = "neither runtime.gdestroy nor runtime.goexit1 found";
    return s;
  }
  ProbeSite s = EntrySiteOf(bin, ProbePurpose::kGoroutineExit, *goexit1);
  s.value_reg = "r14";
  return s;
}

// One entry site per pclntab function that `wanted` selects (wrappers
// excluded), in pclntab order; the first function without a site makes it an
// error. No function selected: addresses and error both empty.
template <typename Pred>
ProbeSite EntrySitesOfEach(const GoBinary& bin, ProbePurpose p, std::string function, Pred wanted,
                           std::vector<std::string_view>* names = nullptr) {
  ProbeSite s{p, std::move(function), 0, {}, "", "", ""};
  for (const Func& f : bin.pclntab().funcs()) {
    if (f.func_id != 0 || !wanted(f.name)) continue;
    ProbeSite one = EntrySiteOf(bin, p, f, /*branch_ok=*/false);
    if (!one.ok()) {
      s.error = one.error;
      s.addresses.clear();
      return s;
    }
    s.addresses.push_back(one.addresses[0]);
    if (names) names->push_back(f.name);
  }
  return s;
}

// Package init: runtime.main runs each package's init functions in dependency
// order, one at a time, on the main goroutine; they never nest (Go code cannot
// call an init function) and nothing else allocates between two of them. So
// the init function entered last names the package whose init is running, in
// every release, without following doInit's recursion (<= 1.20) or its task
// structures. One site per function, in pclntab order.
ProbeSite InitFunctionSites(const GoBinary& bin) {
  ProbeSite s = EntrySitesOfEach(bin, ProbePurpose::kInitFunctions, "PKG.init*", IsPackageInitFunction);
  if (!s.error.empty()) return s;
  s.how = fmt::format("entry of {} package init functions", s.addresses.size());
  if (s.addresses.empty()) s.error = "no package init function in the pclntab";
  return s;
}

// Go 1.27's size-specialized allocators (runtime/malloc_generated.go):
// mallocgcSmallScanNoHeaderSC1..7, mallocgcSmallNoScanSC2..7, mallocgcTinySC2.
// Each takes mallocgc's arguments and allocates one object; the compiler calls
// them directly and mallocgc hands them its small sizes. Their slow paths are
// called only from them and are not allocation entries of their own.
bool IsSizeSpecializedAllocator(std::string_view name) {
  static const std::regex re(R"(^runtime\.mallocgc(SmallScanNoHeader|SmallNoScan|Tiny)SC[0-9]+$)");
  return std::regex_match(name.begin(), name.end(), re);
}

// None linked (before 1.27, or the experiment off): not needed.
ProbeSite SizeSpecializedSites(const GoBinary& bin) {
  std::vector<std::string_view> names;
  ProbeSite s = EntrySitesOfEach(bin, ProbePurpose::kMallocSpecialized, "runtime.mallocgc*SC*",
                                 IsSizeSpecializedAllocator, &names);
  if (!s.addresses.empty()) {
    s.how = fmt::format("entry of {} size-specialized allocators:", s.addresses.size());
    for (std::string_view n : names) s.how += fmt::format(" {}", n.substr(std::string_view("runtime.").size()));
  }
  return s;
}

// mallocgc's first test after size == 0 is `size < len(mallocNoScanTable)` when
// it dispatches to the size-specialized allocators (1.27+: `cmp rax, 0x51;
// jae`). Only then does it call mallocgcTinySC2 directly, which confirms it.
struct MallocDispatch {
  uint64_t below = 0;        // 0: mallocgc hands nothing on
  uint64_t continue_at = 0;  // where the jae goes: mallocgc's own allocation path
  bool frame_set_up = false;  // push rbp; mov rbp, rsp came before the test
};

// nullopt when mallocgc calls them but the compare could not be read (a probe
// would then count some allocations twice).
std::optional<MallocDispatch> FindMallocDispatch(const GoBinary& bin, const Func& mallocgc) {
  const Func* tiny = bin.pclntab().LookupFunction("runtime.mallocgcTinySC2");
  Bytes code = Code(bin, mallocgc);
  if (!tiny || FindCallsTo(code, mallocgc.entry, tiny->entry).empty()) return MallocDispatch{};
  std::vector<Instruction> in = Decode(code.subspan(0, std::min<size_t>(code.size(), 96)), mallocgc.entry);
  static const std::regex cmp(R"(^rax, (0x[0-9a-f]+|\d+)$)");
  bool pushed = false, framed = false;
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    pushed |= in[i].mnemonic == "push" && in[i].operands == "rbp";
    framed |= pushed && in[i].mnemonic == "mov" && in[i].operands == "rbp, rsp";
    std::smatch m;
    if (in[i].mnemonic == "cmp" && std::regex_match(in[i].operands, m, cmp) && in[i + 1].mnemonic == "jae") {
      uint64_t below = std::stoull(m[1].str(), nullptr, 0);
      if (below > 16 && below <= 1024)
        return MallocDispatch{below, std::stoull(in[i + 1].operands, nullptr, 0), framed};
    }
  }
  return std::nullopt;
}

// From where mallocgc goes on with what it did not hand on, the first
// instruction the kernel emulates (a branch or call), reached through nothing
// but stores to its frame, compares and tests: AX, BX, CX (size, typ,
// needzero), R14, RSP and RBP still hold what they held at the jae. It runs
// once per allocation mallocgc makes itself and never for one it hands on, so
// a probe there spares the handed-on ones a second trap. 0 if the code has
// another shape.
uint64_t MallocOwnPathSite(const GoBinary& bin, const Func& mallocgc, uint64_t from) {
  if (from <= mallocgc.entry || from >= mallocgc.end) return 0;
  Bytes code = Code(bin, mallocgc);
  std::vector<Instruction> in = Decode(code.subspan(from - mallocgc.entry), from);
  static const std::regex store(R"(^(byte|word|dword|qword) ptr \[rsp( \+ (0x[0-9a-f]+|\d+))?\], [a-z0-9]+$)");
  for (size_t i = 0; i < in.size() && i < 12; ++i) {
    const Instruction& x = in[i];
    if (x.mnemonic.starts_with("j") || x.mnemonic == "call") return x.address;
    bool harmless = x.mnemonic == "cmp" || x.mnemonic == "test" || x.mnemonic.starts_with("nop") ||
                    (x.mnemonic == "mov" && std::regex_match(x.operands, store));
    if (!harmless) return 0;
  }
  return 0;
}

ProbeSite MallocSite(const GoBinary& bin) {
  const Func* f = bin.pclntab().LookupFunction("runtime.mallocgc");
  if (!f) {
    ProbeSite s{ProbePurpose::kMalloc, "runtime.mallocgc", 0, {}, "", "", ""};
    s.error = "runtime.mallocgc not found in the pclntab";
    return s;
  }
  ProbeSite s = EntrySiteOf(bin, ProbePurpose::kMalloc, *f);
  auto dispatch = FindMallocDispatch(bin, *f);
  if (!dispatch) {
    s.addresses.clear();
    s.error = "runtime.mallocgc calls the size-specialized allocators, but its size test was not recognised";
    return s;
  }
  if (!dispatch->below) return s;
  s.dispatch_below = dispatch->below;
  if (uint64_t own = dispatch->frame_set_up ? MallocOwnPathSite(bin, *f, dispatch->continue_at) : 0) {
    s.addresses = {own};
    s.in_frame = true;
    s.how = fmt::format("entry+{}: first branch on mallocgc's own path, past its hand-over of sizes below {} "
                        "to the size-specialized allocators (frame set up; size, typ in AX, BX)",
                        own - f->entry, dispatch->below);
  } else {
    s.how += fmt::format("; sizes below {} are counted in the size-specialized allocators", dispatch->below);
  }
  return s;
}

}  // namespace

std::string_view PurposeName(ProbePurpose p) {
  for (const auto& i : kPurposes)
    if (i.purpose == p) return i.name;
  return "unknown";
}

std::vector<uint64_t> FunctionRets(const GoBinary& bin, const Func& f) { return FindRets(Code(bin, f), f.entry); }

ProbeSite FindProbeSite(const GoBinary& bin, ProbePurpose p) {
  if (p == ProbePurpose::kGoroutineNewG) return NewGSite(bin);
  if (p == ProbePurpose::kGoroutineNewGOther) return OtherNewGSites(bin);
  if (p == ProbePurpose::kGoroutineExit) return ExitSite(bin);
  if (p == ProbePurpose::kInitFunctions) return InitFunctionSites(bin);
  if (p == ProbePurpose::kMalloc) return MallocSite(bin);
  if (p == ProbePurpose::kMallocSpecialized) return SizeSpecializedSites(bin);
  std::string_view name;
  for (const auto& i : kPurposes)
    if (i.purpose == p) name = i.function;
  const Func* f = bin.pclntab().LookupFunction(name);
  if (!f) {
    ProbeSite s{p, std::string(name), 0, {}, "", "", ""};
    s.error = fmt::format("{} not found in the pclntab", name);
    return s;
  }
  return EntrySiteOf(bin, p, *f);
}

std::vector<ProbeSite> FindProbeSites(const GoBinary& bin) {
  std::vector<ProbeSite> out;
  for (const auto& i : kPurposes) out.push_back(FindProbeSite(bin, i.purpose));
  return out;
}

}  // namespace goscope
