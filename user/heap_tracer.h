// The user-space half of bpf/heap.bpf.c: loads it with the target's runtime
// offsets and Go-version facts, attaches it at the reader's probe sites, and
// either hands each sampled allocation and free to a callback (sampled mode)
// or reads the kernel's per-stack allocation counts (exact mode). Knows
// nothing of profiles or output formats (user/heap_profile does), and never
// writes to the target (user/memprofilerate does, when asked).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "probe_sites.h"
#include "runtime_layout.h"
#include "target_process.h"

namespace goscope {

enum class HeapMode {
  // Go's own sampler: runtime.mProf_Malloc (one event per sampled allocation,
  // mean MemProfileRate bytes apart) and runtime.freeSpecial (the sampled
  // object was swept). Cheap; needs MemProfileRate > 0.
  kSampled,
  // Every runtime.mallocgc call, counted in the kernel per (stack, size).
  // ~1 us per allocation (uprobe trap): for short windows and tests.
  kExact,
  // kExact from a program's first instruction, each allocation also keyed by
  // the package init function running (probes on every init function, on
  // runtime.gcenable and main.main, each reported as a HeapEvent::kInitMark).
  kInit,
};

struct HeapEvent {
  enum Kind { kAlloc, kFree, kInitMark } kind = kAlloc;
  pid_t pid = 0;       // the process: one tracer may serve every process of a binary
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint64_t addr = 0;   // the object (runtime address); frees are matched to allocs by it
  uint64_t size = 0;   // bytes the runtime's profile records for the object
  uint64_t goid = 0;   // allocs only
  std::vector<uint64_t> stack;  // allocs only: return addresses (runtime), innermost first
  // kInitMark: the index of the init function site entered (kInitFunctions
  // site's addresses), or kMarkRuntimeInitDone / kMarkMain.
  uint32_t mark = 0;
  static constexpr uint32_t kMarkRuntimeInitDone = 0xfffffffe;
  static constexpr uint32_t kMarkMain = 0xffffffff;
};

// Exact mode: allocations from one stack with one accounted size.
struct HeapExactRecord {
  std::vector<uint64_t> stack;  // return addresses (runtime), innermost first; empty if the stack map was full
  uint64_t size = 0;            // slot size (size class or whole pages); tiny: requested size
                                // (bytes then adds 16 per new tiny block and 0 per shared one,
                                // as the runtime accounts them)
  bool tiny = false;            // served by the tiny allocator (noscan, < 16 bytes)
  uint64_t count = 0;
  uint64_t bytes = 0;
  // kInit only:
  int64_t init_fn = -1;         // index of the init function site running; -1: none
  bool init_g = false;          // allocated by the init goroutine itself (as inittrace counts)
  bool after_main = false;      // allocated after main.main was entered
};

struct HeapExactStats {
  uint64_t calls = 0;          // mallocgc calls with size > 0
  uint64_t zero_size = 0;      // size 0 (no allocation)
  uint64_t stacks_full = 0;    // counted, but the stack was not stored
  uint64_t counts_full = 0;    // not counted: the count map was full
};

class HeapTracer {
 public:
  // Loads the BPF program; throws Error naming what is missing.
  // ring_bytes: sampled mode's ring buffer (a power of two; 0: the default, 4 MiB).
  HeapTracer(const TargetProcess& target, const RuntimeLayout& layout, HeapMode mode, uint32_t ring_bytes = 0);
  ~HeapTracer();

  HeapMode mode() const;
  // Attaches the mode's probes; when it returns, allocations count.
  void Attach(const std::vector<ProbeSite>& sites);
  void Detach();
  size_t probes() const;
  // Sampled and init modes: drains the ring buffer, calling on_event for each event. Returns how many.
  int Drain(const std::function<void(const HeapEvent&)>& on_event);
  // Sampled-mode events the BPF side could not submit (ring buffer full).
  uint64_t lost() const;

  // Exact mode: the kernel's aggregates so far (call after Detach for a final answer).
  std::vector<HeapExactRecord> ReadExact() const;
  HeapExactStats exact_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscope
