#include "runtime_layout.h"

#include <algorithm>
#include <vector>

namespace goscope {

Sourced RuntimeLayout::get(std::string_view key) const {
  auto it = values.find(key);
  return it == values.end() ? Sourced{} : it->second;
}

std::string RuntimeLayout::Fill(std::initializer_list<std::pair<std::string_view, uint64_t*>> keys) const {
  std::string missing;
  for (const auto& [key, out] : keys) {
    Sourced v = get(key);
    *out = v.value;
    if (!v.known()) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  return missing;
}

void RuntimeLayout::merge_missing(const RuntimeLayout& other) {
  for (const auto& [key, value] : other.values) {
    if (value.known()) values.try_emplace(key, value);
  }
}

std::string LayoutItem::key() const {
  std::string k(name);
  switch (kind) {
    case LayoutKind::kField:
      k += '.';
      k += field;
      break;
    case LayoutKind::kTypeSize:
    case LayoutKind::kVariableSize:
      k += "#size";
      break;
    case LayoutKind::kConstant:
    case LayoutKind::kVariable:
      break;
  }
  return k;
}

namespace {

using K = LayoutKind;

// Fields are listed where a tracer, a BPF program or the heap/goroutine
// walkers read them. Nested paths ("sched.sp") save consumers an addition and
// keep BPF programs to one offset per read.
constexpr LayoutItem kItems[] = {
    // Goroutine descriptor: identity, state, stack bounds, saved registers, origin.
    {K::kTypeSize, "runtime.g", ""},
    {K::kField, "runtime.g", "stack"},
    {K::kField, "runtime.g", "stack.lo"},
    {K::kField, "runtime.g", "stack.hi"},
    {K::kField, "runtime.g", "stackguard0"},
    {K::kField, "runtime.g", "_panic"},
    {K::kField, "runtime.g", "_defer"},
    {K::kField, "runtime.g", "m"},
    {K::kField, "runtime.g", "sched"},
    {K::kField, "runtime.g", "sched.sp"},
    {K::kField, "runtime.g", "sched.pc"},
    {K::kField, "runtime.g", "sched.bp"},
    {K::kField, "runtime.g", "syscallsp"},
    {K::kField, "runtime.g", "syscallpc"},
    {K::kField, "runtime.g", "syscallbp", 23},
    {K::kField, "runtime.g", "atomicstatus"},
    {K::kField, "runtime.g", "goid"},
    {K::kField, "runtime.g", "schedlink"},
    {K::kField, "runtime.g", "waitsince"},
    {K::kField, "runtime.g", "waitreason"},
    {K::kField, "runtime.g", "parentGoid", 21},
    {K::kField, "runtime.g", "gopc"},
    {K::kField, "runtime.g", "ancestors"},
    {K::kField, "runtime.g", "startpc"},
    {K::kField, "runtime.g", "waiting"},
    {K::kField, "runtime.g", "labels"},
    {K::kTypeSize, "runtime.stack", ""},
    {K::kField, "runtime.stack", "lo"},
    {K::kField, "runtime.stack", "hi"},
    // Saved registers of a descheduled goroutine (bp: frame-pointer unwinding).
    {K::kTypeSize, "runtime.gobuf", ""},
    {K::kField, "runtime.gobuf", "sp"},
    {K::kField, "runtime.gobuf", "pc"},
    {K::kField, "runtime.gobuf", "g"},
    {K::kField, "runtime.gobuf", "ctxt"},
    {K::kField, "runtime.gobuf", "lr"},
    {K::kField, "runtime.gobuf", "bp"},
    // OS thread: which goroutine runs on it, and its thread id.
    {K::kTypeSize, "runtime.m", ""},
    {K::kField, "runtime.m", "g0"},
    {K::kField, "runtime.m", "procid"},
    {K::kField, "runtime.m", "gsignal"},
    {K::kField, "runtime.m", "curg"},
    {K::kField, "runtime.m", "p"},
    {K::kField, "runtime.m", "id"},
    {K::kField, "runtime.m", "alllink"},
    // The tiny allocator's state (exact allocation counts: whether a tiny
    // allocation opens a new 16-byte block): m.p.mcache.{tiny,tinyoffset}.
    {K::kField, "runtime.p", "mcache"},
    {K::kField, "runtime.mcache", "tiny"},
    {K::kField, "runtime.mcache", "tinyoffset"},
    // Heap profile: sampled objects carry a profile special pointing at a bucket
    // whose stack follows the header (bucket#size) in memory.
    {K::kTypeSize, "runtime.mspan", ""},
    {K::kField, "runtime.mspan", "startAddr"},
    {K::kField, "runtime.mspan", "npages"},
    {K::kField, "runtime.mspan", "elemsize"},
    {K::kField, "runtime.mspan", "specials"},
    {K::kTypeSize, "runtime.special", ""},
    {K::kField, "runtime.special", "next"},
    {K::kField, "runtime.special", "offset"},
    {K::kField, "runtime.special", "kind"},
    {K::kTypeSize, "runtime.specialprofile", ""},
    {K::kField, "runtime.specialprofile", "special"},
    {K::kField, "runtime.specialprofile", "b"},
    {K::kTypeSize, "runtime.bucket", ""},
    {K::kField, "runtime.bucket", "next"},
    {K::kField, "runtime.bucket", "allnext"},
    {K::kField, "runtime.bucket", "typ"},
    {K::kField, "runtime.bucket", "hash"},
    {K::kField, "runtime.bucket", "size"},
    {K::kField, "runtime.bucket", "nstk"},
    // The GC's own record of a cycle: gctrace's clock times and heap sizes.
    {K::kField, "runtime.workType", "cycles"},  // uint32 (1.19), atomic.Uint32 (1.21+): value at +0
    {K::kField, "runtime.workType", "userForced"},
    {K::kField, "runtime.workType", "tSweepTerm"},
    {K::kField, "runtime.workType", "tMark"},
    {K::kField, "runtime.workType", "tMarkTerm"},
    {K::kField, "runtime.workType", "tEnd"},
    {K::kField, "runtime.workType", "pauseNS"},
    {K::kField, "runtime.workType", "heap0"},
    {K::kField, "runtime.workType", "heap1"},
    {K::kField, "runtime.workType", "heap2"},
    // GC pacing and statistics (runtime.gcController, runtime.memstats).
    {K::kField, "runtime.gcControllerState", "gcPercent"},
    {K::kField, "runtime.gcControllerState", "heapLive"},
    {K::kField, "runtime.gcControllerState", "heapMarked"},
    {K::kField, "runtime.mstats", "last_gc_unix"},
    {K::kField, "runtime.mstats", "pause_total_ns"},
    {K::kField, "runtime.mstats", "numgc"},
    {K::kField, "runtime.mstats", "last_gc_nanotime"},
    // runtime.ReadMemStats from outside (readmemstats_m, the same formulas in
    // 1.19-1.27): the consistent per-size-class counters, the controller's
    // heap totals and goal, the sys counters and the GC's pause history...
    {K::kTypeSize, "runtime.mstats", ""},
    {K::kField, "runtime.mstats", "heapStats.stats"},
    {K::kField, "runtime.mstats", "stacks_sys"},
    {K::kField, "runtime.mstats", "mspan_sys"},
    {K::kField, "runtime.mstats", "mcache_sys"},
    {K::kField, "runtime.mstats", "buckhash_sys"},
    {K::kField, "runtime.mstats", "gcMiscSys"},
    {K::kField, "runtime.mstats", "other_sys"},
    {K::kField, "runtime.mstats", "pause_ns"},
    {K::kField, "runtime.mstats", "pause_end"},
    {K::kField, "runtime.mstats", "numforcedgc"},
    {K::kField, "runtime.mstats", "gc_cpu_fraction"},
    {K::kTypeSize, "runtime.heapStatsDelta", ""},
    {K::kField, "runtime.heapStatsDelta", "inStacks"},
    {K::kField, "runtime.heapStatsDelta", "inWorkBufs"},
    {K::kField, "runtime.heapStatsDelta", "inPtrScalarBits", 19, 24},
    {K::kField, "runtime.heapStatsDelta", "tinyAllocCount"},
    {K::kField, "runtime.heapStatsDelta", "largeAlloc"},
    {K::kField, "runtime.heapStatsDelta", "largeAllocCount"},
    {K::kField, "runtime.heapStatsDelta", "smallAllocCount"},
    {K::kField, "runtime.heapStatsDelta", "largeFree"},
    {K::kField, "runtime.heapStatsDelta", "largeFreeCount"},
    {K::kField, "runtime.heapStatsDelta", "smallFreeCount"},
    {K::kTypeSize, "runtime.gcControllerState", ""},
    {K::kField, "runtime.gcControllerState", "heapInUse"},
    {K::kField, "runtime.gcControllerState", "heapFree"},
    {K::kField, "runtime.gcControllerState", "heapReleased"},
    {K::kField, "runtime.gcControllerState", "totalAlloc"},
    {K::kField, "runtime.gcControllerState", "totalFree"},
    {K::kField, "runtime.gcControllerState", "gcPercentHeapGoal"},
    {K::kField, "runtime.gcControllerState", "sweepDistMinTrigger"},
    {K::kField, "runtime.gcControllerState", "triggered"},
    {K::kField, "runtime.gcControllerState", "memoryLimit"},
    {K::kField, "runtime.gcControllerState", "mappedReady"},
    // ...what the Ps' allocation caches hold but have not yet counted (the
    // runtime flushes them before it reads)...
    {K::kField, "runtime.mcache", "alloc"},
    {K::kField, "runtime.mcache", "tinyAllocs"},
    {K::kField, "runtime.mspan", "allocCount"},
    {K::kField, "runtime.mspan", "allocCountBeforeCache"},
    // ...and runtime.NumGoroutine (gcount) and the number of Ms (mcount).
    {K::kTypeSize, "runtime.schedt", ""},
    {K::kField, "runtime.schedt", "mnext"},
    {K::kField, "runtime.schedt", "nmidle"},        // these three: only to find
    {K::kField, "runtime.schedt", "nmidlelocked"},  // runtime.sched in a binary
    {K::kField, "runtime.schedt", "nmsys"},         // without symbols
    {K::kField, "runtime.schedt", "nmfreed"},
    {K::kField, "runtime.schedt", "ngsys"},
    {K::kField, "runtime.schedt", "gFree.n", 19, 24},
    {K::kField, "runtime.schedt", "gFree.stack.size", 25},
    {K::kField, "runtime.schedt", "gFree.noStack.size", 25},
    {K::kField, "runtime.p", "gFree.n", 19, 24},
    {K::kField, "runtime.p", "gFree.size", 25},
    // ...and goroutines created since the start: the ids handed out, less
    // those the Ps hold in their caches unassigned.
    {K::kField, "runtime.schedt", "goidgen"},
    {K::kField, "runtime.p", "goidcache"},
    {K::kField, "runtime.p", "goidcacheend"},
    // Reachability from outside (goscope leaks): the heap's spans, and what a
    // blocked goroutine waits on (g.waiting's sudogs; before 1.26 semaphore
    // waiters are found in runtime.semtable's treaps instead). From 1.26 a
    // sudog's c and elem are maybeTraceablePtr{vp, vu}: vu is the address.
    {K::kField, "runtime.mheap", "allspans"},
    {K::kField, "runtime.mspan", "spanclass"},
    {K::kField, "runtime.mspan", "state"},
    {K::kConstant, "runtime.mSpanInUse", ""},
    {K::kField, "runtime.sudog", "g"},
    {K::kField, "runtime.sudog", "next"},
    {K::kField, "runtime.sudog", "prev"},
    {K::kField, "runtime.sudog", "elem"},
    {K::kField, "runtime.sudog", "c"},
    {K::kField, "runtime.sudog", "waitlink"},
    {K::kField, "runtime.maybeTraceablePtr", "vu", 26},
    {K::kField, "runtime.hchan", "elemtype"},  // what a leaked goroutine's channel carries
    // A P holds stale pointers (GC work and write-barrier buffers, caches):
    // of its fields only the timers are references a program relies on.
    {K::kField, "runtime.p", "timers", 19, 22},
    {K::kField, "runtime.p", "timers.heap", 23},
    {K::kConstant, "runtime.mSpanManual", ""},
    // What keeps memory alive (goscope retain): an object's type, where the
    // runtime records it (from 1.22: a malloc header before a small object
    // with pointers over 512 bytes, span.largeType for a large one), and the
    // type's name (relative to moduledata.types). The type descriptor was
    // runtime._type until 1.20, internal/abi.Type from 1.21.
    {K::kField, "runtime.mspan", "largeType", 22},
    {K::kField, "runtime._type", "size", 19, 20},
    {K::kField, "runtime._type", "tflag", 19, 20},
    {K::kField, "runtime._type", "str", 19, 20},
    {K::kField, "internal/abi.Type", "Size_", 21},
    {K::kField, "internal/abi.Type", "TFlag", 21},
    {K::kField, "internal/abi.Type", "Str", 21},
    {K::kTypeSize, "runtime.semaRoot", ""},
    // Go's own heap profile, read from memory (runtime.mbuckets, linked by
    // runtime.bucket's allnext, above): each bucket is the header, nstk
    // return addresses, then its memRecord: active and three future cycles of
    // {allocs, frees, alloc_bytes, free_bytes} (1.27: {allocs, frees}; bytes =
    // count * size).
    {K::kTypeSize, "runtime.memRecordCycle", ""},
    {K::kField, "runtime.memRecordCycle", "allocs"},
    {K::kField, "runtime.memRecordCycle", "frees"},
    {K::kField, "runtime.memRecordCycle", "alloc_bytes", 19, 26},
    {K::kField, "runtime.memRecordCycle", "free_bytes", 19, 26},
    {K::kField, "runtime.memRecord", "active"},
    {K::kField, "runtime.memRecord", "future"},
    {K::kField, "runtime.semaRoot", "treap"},
    // The runtime's own index of the binary (runtime.firstmoduledata).
    {K::kTypeSize, "runtime.moduledata", ""},
    {K::kField, "runtime.moduledata", "pcHeader"},
    {K::kField, "runtime.moduledata", "funcnametab"},
    {K::kField, "runtime.moduledata", "ftab"},
    {K::kField, "runtime.moduledata", "minpc"},
    {K::kField, "runtime.moduledata", "maxpc"},
    {K::kField, "runtime.moduledata", "text"},
    {K::kField, "runtime.moduledata", "etext"},
    {K::kField, "runtime.moduledata", "noptrdata"},
    {K::kField, "runtime.moduledata", "enoptrdata"},
    {K::kField, "runtime.moduledata", "data"},
    {K::kField, "runtime.moduledata", "edata"},
    {K::kField, "runtime.moduledata", "bss"},
    {K::kField, "runtime.moduledata", "ebss"},
    {K::kField, "runtime.moduledata", "noptrbss"},
    {K::kField, "runtime.moduledata", "enoptrbss"},
    {K::kField, "runtime.moduledata", "end"},
    {K::kField, "runtime.moduledata", "types"},
    {K::kField, "runtime.moduledata", "etypes"},
    {K::kField, "runtime.moduledata", "rodata"},
    {K::kField, "runtime.moduledata", "gofunc"},
    {K::kField, "runtime.moduledata", "next"},
    // Which words of data and bss hold pointers: the GC's own roots.
    {K::kField, "runtime.moduledata", "gcdatamask"},
    {K::kField, "runtime.moduledata", "gcbssmask"},
    {K::kField, "runtime.bitvector", "n"},
    {K::kField, "runtime.bitvector", "bytedata"},
    // Goroutine status values and special kinds (_KindSpecialProfile moved
    // from 2 to 3 in 1.23 when the weak-handle special was inserted).
    {K::kConstant, "runtime._Gidle", ""},
    {K::kConstant, "runtime._Grunnable", ""},
    {K::kConstant, "runtime._Grunning", ""},
    {K::kConstant, "runtime._Gsyscall", ""},
    {K::kConstant, "runtime._Gwaiting", ""},
    {K::kConstant, "runtime._Gdead", ""},
    {K::kConstant, "runtime._Gcopystack", ""},
    {K::kConstant, "runtime._Gpreempted", ""},
    {K::kConstant, "runtime._Gscan", ""},
    {K::kConstant, "runtime._KindSpecialFinalizer", ""},
    {K::kConstant, "runtime._KindSpecialProfile", ""},
    // Variables: addresses differ per binary, so DWARF or symtab only.
    {K::kVariable, "runtime.allgs", ""},
    {K::kVariable, "runtime.work", ""},
    {K::kVariable, "runtime.allglen", ""},
    {K::kVariable, "runtime.allm", ""},
    {K::kVariable, "runtime.allp", ""},
    {K::kVariable, "runtime.m0", ""},
    {K::kVariable, "runtime.g0", ""},
    {K::kVariable, "runtime.sched", ""},
    {K::kVariable, "runtime.gomaxprocs", ""},
    {K::kVariable, "runtime.MemProfileRate", ""},
    {K::kVariable, "runtime.disableMemoryProfiling", ""},
    {K::kVariable, "runtime.mbuckets", ""},
    {K::kVariable, "runtime.mProfCycle", ""},
    {K::kVariable, "runtime.mheap_", ""},
    {K::kVariable, "runtime.semtable", ""},
    {K::kVariableSize, "runtime.semtable", ""},
    {K::kVariable, "runtime.waitReasonStrings", ""},
    {K::kVariableSize, "runtime.waitReasonStrings", ""},
    {K::kVariable, "runtime.gcController", ""},
    {K::kVariable, "runtime.memstats", ""},
    {K::kVariable, "runtime.buildVersion", ""},
    {K::kVariable, "runtime.runtimeInitTime", ""},
    {K::kVariable, "runtime.firstmoduledata", ""},
    {K::kVariable, "runtime.modulesSlice", ""},
};

constexpr std::string_view kConstantPrefixes[] = {"runtime.waitReason"};

struct TableRow {
  int minor;
  const char* key;
  uint64_t value;
};

// Generated by scripts/gen-offset-table.sh; the sentinel keeps an empty table legal.
constexpr TableRow kTable[] = {
#include "offset_table.inc"
    {0, nullptr, 0},
};

}  // namespace

std::span<const LayoutItem> CanonicalLayoutItems() { return kItems; }

std::span<const std::string_view> CanonicalConstantPrefixes() { return kConstantPrefixes; }

bool IsTableKey(std::string_view key) {
  for (const LayoutItem& item : kItems) {
    if (item.key() == key) return item.in_table();
  }
  for (std::string_view prefix : kConstantPrefixes) {
    if (key.starts_with(prefix) && key.find('#') == std::string_view::npos) return true;
  }
  return false;
}

int GoMinorVersion(std::string_view v) {
  if (v.starts_with("go")) v.remove_prefix(2);
  if (!v.starts_with("1.")) return -1;
  v.remove_prefix(2);
  int minor = 0;
  size_t digits = 0;
  while (digits < v.size() && digits < 4 && v[digits] >= '0' && v[digits] <= '9') {
    minor = minor * 10 + (v[digits] - '0');
    ++digits;
  }
  if (digits == 0 || (digits < v.size() && v[digits] >= '0' && v[digits] <= '9')) return -1;
  return minor;
}

std::span<const int> TableMinorVersions() {
  static const std::vector<int> minors = [] {
    std::vector<int> m;
    for (const TableRow& row : kTable) {
      if (row.key && std::find(m.begin(), m.end(), row.minor) == m.end()) m.push_back(row.minor);
    }
    std::sort(m.begin(), m.end());
    return m;
  }();
  return minors;
}

RuntimeLayout TableLayout(std::string_view go_version) {
  RuntimeLayout layout;
  int minor = GoMinorVersion(go_version);
  if (minor < 0) return layout;
  for (const TableRow& row : kTable) {
    if (row.key && row.minor == minor) layout.values.emplace(row.key, Sourced{row.value, Source::kTable});
  }
  return layout;
}

}  // namespace goscope
