#include "probe_sites.h"

#include <fmt/format.h>

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
    {ProbePurpose::kHeapSampleAlloc, "heap_sample_alloc", "runtime.mProf_Malloc"},
    {ProbePurpose::kHeapSampleFree, "heap_sample_free", "runtime.freeSpecial"},
    {ProbePurpose::kMalloc, "malloc", "runtime.mallocgc"},
    {ProbePurpose::kGcStart, "gc_start", "runtime.gcStart"},
    {ProbePurpose::kGcMarkDone, "gc_mark_done", "runtime.gcMarkDone"},
    {ProbePurpose::kGcMarkTermination, "gc_mark_termination", "runtime.gcMarkTermination"},
    {ProbePurpose::kStopTheWorld, "stop_the_world", "runtime.stopTheWorldWithSema"},
    {ProbePurpose::kStartTheWorld, "start_the_world", "runtime.startTheWorldWithSema"},
    {ProbePurpose::kInitTask, "init_task", "runtime.doInit1"},
    {ProbePurpose::kMainMain, "main_main", "main.main"},
};

Bytes Code(const GoBinary& bin, const Func& f) {
  Bytes b = bin.elf().at_vaddr(f.entry);
  return b.subspan(0, std::min<uint64_t>(b.size(), f.end - f.entry));
}

// The cheapest exact entry site: the first emulated instruction after the stack
// check, where every argument register and RSP still hold their entry values.
ProbeSite EntrySiteOf(const GoBinary& bin, ProbePurpose p, const Func& f) {
  ProbeSite s{p, std::string(f.name), f.entry, {}, "", "", ""};
  Bytes code = Code(bin, f);
  if (code.empty()) {
    s.error = fmt::format("{}: code not in the file", f.name);
    return s;
  }
  if (auto cheap = FindCheapEntrySite(code, f.entry)) {
    s.addresses = {cheap->address};
    s.how = fmt::format("entry+{}: {}", cheap->address - f.entry, cheap->why);
  } else {
    s.addresses = {f.entry};
    s.how = "entry (no emulated instruction before the frame is set up; single-stepped)";
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
  std::string_view name;
  for (const auto& i : kPurposes)
    if (i.purpose == p) name = i.function;
  // doInit1 appeared in 1.21; older releases run each init task in doInit.
  if (p == ProbePurpose::kInitTask && !bin.pclntab().LookupFunction(name)) name = "runtime.doInit";
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
