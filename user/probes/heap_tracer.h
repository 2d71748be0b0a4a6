// The user-space half of bpf/heap.bpf.c: loads it with the target's runtime
// offsets and Go-version facts, attaches it at the reader's probe sites, and
// reads the kernel's per-stack allocation counts (and, in init mode, hands
// each init boundary to a callback). Sampled profiling needs no probes
// (process/heap_buckets reads Go's own profile). Knows nothing of profiles or
// output formats (output/heap_profile does), and never writes to the target.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/heap_samples.h"
#include "probe_sites.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

enum class HeapMode {
  // Every runtime.mallocgc call, counted in the kernel per (stack, size).
  // ~1 us per allocation (uprobe trap): for short windows and tests.
  kExact,
  // kExact from a program's first instruction, each allocation also keyed by
  // the package init function running (probes on every init function, on
  // runtime.gcenable and main.main, each reported as a HeapInitEvent).
  kInit,
};

class HeapTracer {
 public:
  // Loads the BPF program; throws Error naming what is missing.
  HeapTracer(const TargetProcess& target, const RuntimeLayout& layout, HeapMode mode);
  ~HeapTracer();

  HeapMode mode() const;
  // Attaches the mode's probes; when it returns, allocations count.
  void Attach(const std::vector<ProbeSite>& sites);
  void Detach();
  size_t probes() const;
  // Init mode: drains the ring buffer, calling on_event for each event. Returns how many.
  int Drain(const std::function<void(const HeapInitEvent&)>& on_event);
  // Init-mode events the BPF side could not submit (ring buffer full).
  uint64_t lost() const;

  // Exact mode: the kernel's aggregates so far (call after Detach for a final answer).
  std::vector<HeapExactRecord> ReadExact() const;
  HeapExactStats exact_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscope
