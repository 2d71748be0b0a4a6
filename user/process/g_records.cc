#include "process/g_records.h"

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "error.h"
#include "model/goroutine.h"

namespace goscope {
namespace {

// Go's waitReasonStrings (runtime2.go) by constant name, the union of 1.19-1.27:
// used only when the target's own array cannot be read.
const std::map<std::string, std::string, std::less<>>& WaitReasonNames() {
  static const std::map<std::string, std::string, std::less<>> m = {
      {"waitReasonZero", ""},
      {"waitReasonCleanupWait", "cleanup wait"},
      {"waitReasonSynctestWaitGroupWait", "sync.WaitGroup.Wait (durable)"},
      {"waitReasonUpdateGOMAXPROCSIdle", "GOMAXPROCS updater (idle)"},
      {"waitReasonGCAssistMarking", "GC assist marking"},
      {"waitReasonIOWait", "IO wait"},
      {"waitReasonChanReceiveNilChan", "chan receive (nil chan)"},
      {"waitReasonChanSendNilChan", "chan send (nil chan)"},
      {"waitReasonDumpingHeap", "dumping heap"},
      {"waitReasonGarbageCollection", "garbage collection"},
      {"waitReasonGarbageCollectionScan", "garbage collection scan"},
      {"waitReasonPanicWait", "panicwait"},
      {"waitReasonSelect", "select"},
      {"waitReasonSelectNoCases", "select (no cases)"},
      {"waitReasonGCAssistWait", "GC assist wait"},
      {"waitReasonGCSweepWait", "GC sweep wait"},
      {"waitReasonGCScavengeWait", "GC scavenge wait"},
      {"waitReasonChanReceive", "chan receive"},
      {"waitReasonChanSend", "chan send"},
      {"waitReasonFinalizerWait", "finalizer wait"},
      {"waitReasonForceGCIdle", "force gc (idle)"},
      {"waitReasonSemacquire", "semacquire"},
      {"waitReasonSleep", "sleep"},
      {"waitReasonSyncCondWait", "sync.Cond.Wait"},
      {"waitReasonSyncMutexLock", "sync.Mutex.Lock"},
      {"waitReasonSyncRWMutexRLock", "sync.RWMutex.RLock"},
      {"waitReasonSyncRWMutexLock", "sync.RWMutex.Lock"},
      {"waitReasonSyncWaitGroupWait", "sync.WaitGroup.Wait"},
      {"waitReasonTimerGoroutineIdle", "timer goroutine (idle)"},
      {"waitReasonTraceReaderBlocked", "trace reader (blocked)"},
      {"waitReasonWaitForGCCycle", "wait for GC cycle"},
      {"waitReasonGCWorkerIdle", "GC worker (idle)"},
      {"waitReasonGCWorkerActive", "GC worker (active)"},
      {"waitReasonPreempted", "preempted"},
      {"waitReasonDebugCall", "debug call"},
      {"waitReasonGCMarkTermination", "GC mark termination"},
      {"waitReasonStoppingTheWorld", "stopping the world"},
      {"waitReasonFlushProcCaches", "flushing proc caches"},
      {"waitReasonTraceGoroutineStatus", "trace goroutine status"},
      {"waitReasonTraceProcStatus", "trace proc status"},
      {"waitReasonPageTraceFlush", "page trace flush"},
      {"waitReasonCoroutine", "coroutine"},
      {"waitReasonGCWeakToStrongWait", "GC weak to strong wait"},
      {"waitReasonSynctestRun", "synctest.Run"},
      {"waitReasonSynctestWait", "synctest.Wait"},
      {"waitReasonSynctestChanReceive", "chan receive (synctest)"},
      {"waitReasonSynctestChanSend", "chan send (synctest)"},
      {"waitReasonSynctestSelect", "select (synctest)"},
  };
  return m;
}

uint64_t Field(std::span<const uint8_t> buf, size_t base, uint64_t off, size_t width) {
  uint64_t v = 0;
  if (base + off + width <= buf.size()) std::memcpy(&v, buf.data() + base + off, width);
  return v;
}


}  // namespace

std::string StateName(uint32_t s) {
  static const char* const kNames[] = {"idle",    "runnable",  "running",   "syscall", "waiting", "moribund",
                                       "dead",    "enqueue",   "copystack", "preempted", "leaked",
                                       "dead"};  // _Gdeadextra: Go's dumps skip it as they skip _Gdead
  return s < std::size(kNames) ? kNames[s] : fmt::format("status {}", s);
}

WaitReasons::WaitReasons(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias) {
  Sourced arr = layout.get("runtime.waitReasonStrings");
  Sourced size = layout.get("runtime.waitReasonStrings#size");
  if (arr.known() && size.known() && size.value % 16 == 0 && size.value / 16 <= 256) {
    size_t n = size.value / 16;
    std::vector<uint64_t> hdrs(2 * n);
    if (mem.Read(arr.value + bias, hdrs.data(), hdrs.size() * 8)) {
      bool ok = true;
      names_.resize(n);
      for (size_t i = 0; i < n && ok; i++) {
        uint64_t ptr = hdrs[2 * i], len = hdrs[2 * i + 1];
        if (len > 64) ok = false;
        std::string s(len, '\0');
        if (len && !mem.Read(ptr, s.data(), len)) ok = false;
        for (char c : s)
          if (c < 0x20 || c > 0x7e) ok = false;
        names_[i] = s;
      }
      // Index 0 is waitReasonZero, the empty string, in every release.
      if (ok && n > 0 && names_[0]->empty()) {
        source_ = "target memory";
        return;
      }
      names_.clear();
    }
  }
  const std::string_view prefix = "runtime.waitReason";
  for (const auto& [key, v] : layout.values) {
    if (!key.starts_with(prefix) || key.find('#') != std::string::npos || key == "runtime.waitReasonStrings")
      continue;
    if (v.value > 255) continue;
    std::string_view cname = std::string_view(key).substr(std::string_view("runtime.").size());
    auto it = WaitReasonNames().find(cname);
    if (names_.size() <= v.value) names_.resize(v.value + 1);
    names_[v.value] = it != WaitReasonNames().end() ? it->second : std::string(cname);
  }
  source_ = names_.empty() ? "none" : "table";
}


std::string WaitReasons::Name(uint8_t idx) const {
  if (idx < names_.size() && names_[idx]) return *names_[idx];
  return fmt::format("wait reason {}", idx);
}

GLayout ResolveGLayout(const RuntimeLayout& l, pid_t pid) {
  GLayout g;
  std::string missing = l.Fill({{"runtime.g#size", &g.size},
                                {"runtime.g.goid", &g.goid},
                                {"runtime.g.atomicstatus", &g.status},
                                {"runtime.g.waitreason", &g.waitreason},
                                {"runtime.g.gopc", &g.gopc},
                                {"runtime.g.startpc", &g.startpc},
                                {"runtime.g.sched.sp", &g.sched_sp},
                                {"runtime.g.sched.pc", &g.sched_pc},
                                {"runtime.g.sched.bp", &g.sched_bp},
                                {"runtime.g.stack.lo", &g.stack_lo},
                                {"runtime.g.stack.hi", &g.stack_hi},
                                {"runtime.g.syscallsp", &g.syscallsp},
                                {"runtime.g.syscallpc", &g.syscallpc}});
  auto want = [&](const char* key, std::optional<uint64_t>* out) {
    Sourced v = l.get(key);
    if (v.known()) *out = v.value;
  };
  want("runtime.g.waitsince", &g.waitsince);
  want("runtime.g.parentGoid", &g.parent_goid);
  want("runtime.g.syscallbp", &g.syscallbp);
  want("runtime.g.waiting", &g.waiting);
  if (!l.get("runtime.allgs").known()) missing += (missing.empty() ? "" : ", ") + std::string("runtime.allgs");
  if (!missing.empty())
    throw Error(fmt::format("process {}: runtime layout incomplete, cannot read goroutines: {} unknown", pid, missing));
  if (g.size < 64 || g.size > 4096) throw Error(fmt::format("process {}: implausible runtime.g size {}", pid, g.size));
  return g;
}

GRecord DecodeG(const GLayout& L, std::span<const uint8_t> buf, size_t base, uint64_t addr) {
  GRecord g;
  g.addr = addr;
  g.goid = Field(buf, base, L.goid, 8);
  g.status = static_cast<uint32_t>(Field(buf, base, L.status, 4)) & ~gstatus::kScan;
  g.waitreason = static_cast<uint8_t>(Field(buf, base, L.waitreason, 1));
  if (L.waitsince) g.waitsince = static_cast<int64_t>(Field(buf, base, *L.waitsince, 8));
  if (L.parent_goid) g.parent_goid = Field(buf, base, *L.parent_goid, 8);
  g.gopc = Field(buf, base, L.gopc, 8);
  g.startpc = Field(buf, base, L.startpc, 8);
  g.sched_sp = Field(buf, base, L.sched_sp, 8);
  g.sched_pc = Field(buf, base, L.sched_pc, 8);
  g.sched_bp = Field(buf, base, L.sched_bp, 8);
  g.stack_lo = Field(buf, base, L.stack_lo, 8);
  g.stack_hi = Field(buf, base, L.stack_hi, 8);
  g.syscallsp = Field(buf, base, L.syscallsp, 8);
  g.syscallpc = Field(buf, base, L.syscallpc, 8);
  if (L.syscallbp) g.syscallbp = Field(buf, base, *L.syscallbp, 8);
  if (L.waiting) g.waiting = Field(buf, base, *L.waiting, 8);
  return g;
}

std::vector<uint64_t> ReadAllgs(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias) {
  // The gs, newest last.
  return ReadRuntimePointerSlice(mem, layout.get("runtime.allgs").value + bias, uint64_t{1} << 24, "runtime.allgs");
}

}  // namespace goscope
