// What package init cost a program: allocations (exact), time and GC cycles
// per package, in init order, from the marks and exact allocation records of
// a HeapMode::kInit trace. Per-package counts are GODEBUG=inittrace's: the
// allocations the init goroutine itself made while that package's init
// functions ran, in size-class-rounded bytes. Knows nothing of BPF.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/gc_cycle.h"
#include "model/heap_samples.h"

namespace goscope {

struct InitMark {
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint32_t mark = 0;   // HeapInitEvent::mark
};

struct InitPackage {
  std::string package;
  uint64_t allocs = 0, bytes = 0;                        // by the init goroutine (inittrace's numbers)
  uint64_t background_allocs = 0, background_bytes = 0;  // by other goroutines meanwhile
  uint64_t start_ns = 0, end_ns = 0;
  int gc_cycles = 0;
  double seconds() const { return end_ns > start_ns ? (end_ns - start_ns) / 1e9 : 0; }
};

struct InitReport {
  pid_t pid = 0;
  std::string go_version;
  uint64_t start_ns = 0;        // the program's first instruction (when goscope let it run)
  uint64_t main_ns = 0;         // main.main entered; 0 if it never was
  std::vector<InitPackage> packages;  // init order
  uint64_t startup_allocs = 0, startup_bytes = 0;  // every allocation before main.main, any goroutine
  int startup_gc_cycles = 0;
  uint64_t startup_gc_pause_ns = 0;
  bool complete() const { return main_ns != 0; }
};

// function_names[i]: the init function of site index i (kInitFunctions addresses).
InitReport BuildInitReport(const std::vector<InitMark>& marks, const std::vector<std::string>& function_names,
                           const std::vector<HeapExactRecord>& records, const std::vector<GcCycle>& cycles,
                           uint64_t start_ns);

// The start-up's allocations (before main.main) as heap records, each labelled
// with the package whose init was running ("package") and, for allocations by
// other goroutines meanwhile, "goroutine": "background".
std::vector<HeapRecord> InitHeapRecords(const std::vector<HeapExactRecord>& records,
                                        const std::vector<std::string>& function_names);

}  // namespace goscope
