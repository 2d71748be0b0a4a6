#include "model/runtime_stats.h"

#include <algorithm>

namespace goscope {
namespace {

using U = StatUnit;

// Help texts follow runtime.MemStats's documentation; metric names are
// client_golang's (prometheus/collectors Go collector, memstats mode).
constexpr StatInfo kInfo[] = {
    {Stat::kAlloc, "Alloc", "go_memstats_alloc_bytes", U::kBytes, false, "Bytes of allocated heap objects."},
    {Stat::kTotalAlloc, "TotalAlloc", "go_memstats_alloc_bytes_total", U::kBytes, true,
     "Cumulative bytes allocated for heap objects."},
    {Stat::kSys, "Sys", "go_memstats_sys_bytes", U::kBytes, false, "Bytes of memory obtained from the OS."},
    {Stat::kMallocs, "Mallocs", "go_memstats_mallocs_total", U::kCount, true, "Cumulative count of heap objects allocated."},
    {Stat::kFrees, "Frees", "go_memstats_frees_total", U::kCount, true, "Cumulative count of heap objects freed."},
    {Stat::kHeapAlloc, "HeapAlloc", "go_memstats_heap_alloc_bytes", U::kBytes, false,
     "Bytes of allocated heap objects (reachable and not yet swept)."},
    {Stat::kHeapSys, "HeapSys", "go_memstats_heap_sys_bytes", U::kBytes, false, "Bytes of heap memory obtained from the OS."},
    {Stat::kHeapIdle, "HeapIdle", "go_memstats_heap_idle_bytes", U::kBytes, false, "Bytes in idle (unused) spans."},
    {Stat::kHeapInuse, "HeapInuse", "go_memstats_heap_inuse_bytes", U::kBytes, false, "Bytes in in-use spans."},
    {Stat::kHeapReleased, "HeapReleased", "go_memstats_heap_released_bytes", U::kBytes, false,
     "Bytes of physical memory returned to the OS."},
    {Stat::kHeapObjects, "HeapObjects", "go_memstats_heap_objects", U::kCount, false, "Number of allocated heap objects."},
    {Stat::kStackInuse, "StackInuse", "go_memstats_stack_inuse_bytes", U::kBytes, false, "Bytes in stack spans."},
    {Stat::kStackSys, "StackSys", "go_memstats_stack_sys_bytes", U::kBytes, false,
     "Bytes of stack memory obtained from the OS."},
    {Stat::kMSpanSys, "MSpanSys", "go_memstats_mspan_sys_bytes", U::kBytes, false,
     "Bytes of memory obtained from the OS for mspan structures."},
    {Stat::kMCacheSys, "MCacheSys", "go_memstats_mcache_sys_bytes", U::kBytes, false,
     "Bytes of memory obtained from the OS for mcache structures."},
    {Stat::kBuckHashSys, "BuckHashSys", "go_memstats_buck_hash_sys_bytes", U::kBytes, false,
     "Bytes of memory in profiling bucket hash tables."},
    {Stat::kGCSys, "GCSys", "go_memstats_gc_sys_bytes", U::kBytes, false, "Bytes of memory in garbage collection metadata."},
    {Stat::kOtherSys, "OtherSys", "go_memstats_other_sys_bytes", U::kBytes, false,
     "Bytes of memory in miscellaneous off-heap runtime allocations."},
    {Stat::kNextGC, "NextGC", "go_memstats_next_gc_bytes", U::kBytes, false, "The target heap size of the next GC cycle."},
    {Stat::kLastGC, "LastGC", "go_memstats_last_gc_time_seconds", U::kUnixNanoseconds, false,
     "When the last garbage collection finished."},
    {Stat::kPauseTotalNs, "PauseTotalNs", "", U::kNanoseconds, true,
     "Cumulative time in GC stop-the-world pauses since the program started."},
    {Stat::kNumGC, "NumGC", "", U::kCount, true, "Number of completed GC cycles."},
    {Stat::kNumForcedGC, "NumForcedGC", "", U::kCount, true, "Number of GC cycles forced by the program calling runtime.GC."},
    {Stat::kGoroutines, "NumGoroutine", "go_goroutines", U::kCount, false, "Number of goroutines that currently exist."},
    {Stat::kThreads, "Threads", "go_threads", U::kCount, false, "Number of OS threads the runtime created (Ms)."},
};
static_assert(std::size(kInfo) == kStatCount);

constexpr bool InStatOrder() {
  for (size_t i = 0; i < std::size(kInfo); i++)
    if (static_cast<size_t>(kInfo[i].stat) != i) return false;
  return true;
}
static_assert(InStatOrder(), "kInfo must list the stats in Stat order");

}  // namespace

std::span<const StatInfo> RuntimeStatInfo() { return kInfo; }

const StatInfo& Describe(Stat s) { return kInfo[static_cast<size_t>(s)]; }

std::optional<Stat> StatByName(std::string_view name) {
  for (const StatInfo& info : kInfo)
    if (info.name == name) return info.stat;
  return std::nullopt;
}

std::vector<uint64_t> PauseQuantiles(const RuntimeStats& s, size_t n) {
  std::vector<uint64_t> q(n, 0);
  if (s.recent_pauses_ns.empty() || n < 2) return q;
  std::vector<uint64_t> sorted = s.recent_pauses_ns;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i + 1 < n; i++) q[i] = sorted[sorted.size() * i / (n - 1)];
  q[n - 1] = sorted.back();
  return q;
}

void RuntimeStats::SetAbsent(Stat s, std::string why) {
  (*this)[s].reset();
  absent.insert_or_assign(std::string(Describe(s).name), std::move(why));
}

}  // namespace goscope
