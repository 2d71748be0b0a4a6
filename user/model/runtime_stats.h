// The runtime's own accounts of one Go process at one moment: what
// runtime.ReadMemStats, runtime.NumGoroutine and the count of OS threads the
// runtime made would return inside it. Read from outside, without probes, by
// process/runtime_stats_reader; this file knows the fields, their units and
// their names in Go and in client_golang, not where they are read or printed.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace goscope {

enum class Stat : uint8_t {
  kAlloc,
  kTotalAlloc,
  kSys,
  kMallocs,
  kFrees,
  kHeapAlloc,
  kHeapSys,
  kHeapIdle,
  kHeapInuse,
  kHeapReleased,
  kHeapObjects,
  kStackInuse,
  kStackSys,
  kMSpanSys,
  kMCacheSys,
  kBuckHashSys,
  kGCSys,
  kOtherSys,
  kNextGC,
  kLastGC,
  kPauseTotalNs,
  kNumGC,
  kNumForcedGC,
  kGoroutines,
  kThreads,
  kCount,
};
inline constexpr size_t kStatCount = static_cast<size_t>(Stat::kCount);

enum class StatUnit { kBytes, kCount, kNanoseconds, kUnixNanoseconds };

struct StatInfo {
  Stat stat;
  std::string_view name;    // Go's: the MemStats field, "NumGoroutine", "Threads"
  std::string_view metric;  // client_golang's Go collector, "" where it has none
  StatUnit unit;
  bool cumulative;          // only ever grows (a counter, and --watch shows its rate)
  std::string_view help;
};

// Every stat, in Stat order.
std::span<const StatInfo> RuntimeStatInfo();
const StatInfo& Describe(Stat s);
// By Go name ("HeapInuse", "NumGoroutine"); nullopt for an unknown name.
std::optional<Stat> StatByName(std::string_view name);

struct RuntimeStats {
  uint64_t unix_ns = 0;  // when it was read
  std::string go_version;
  std::array<std::optional<uint64_t>, kStatCount> values;
  std::optional<double> gc_cpu_fraction;  // MemStats.GCCPUFraction
  std::vector<uint64_t> recent_pauses_ns;  // newest first: the runtime's ring, at most 256
  // Field name -> why goscope could not derive it for this process. Every
  // absent value has a reason here; nothing is guessed.
  std::map<std::string, std::string, std::less<>> absent;

  const std::optional<uint64_t>& operator[](Stat s) const { return values[static_cast<size_t>(s)]; }
  std::optional<uint64_t>& operator[](Stat s) { return values[static_cast<size_t>(s)]; }
  // Records why a stat is absent (and clears any value).
  void SetAbsent(Stat s, std::string why);
};

// The recent pauses' quantiles as debug.ReadGCStats computes PauseQuantiles
// (and client_golang's go_gc_duration_seconds reports, n = 5): the minimum,
// n-2 evenly spaced order statistics, the maximum. Zeros without pauses.
std::vector<uint64_t> PauseQuantiles(const RuntimeStats& s, size_t n);

}  // namespace goscope
