// The user-space half of bpf/goroutines.bpf.c: loads it with the target's
// runtime offsets, attaches it at the reader's probe sites, and hands each
// lifecycle event to a callback. Knows nothing of reports or output formats.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "probe_sites.h"
#include "runtime_layout.h"
#include "target_process.h"

namespace goscope {

struct GoroutineEvent {
  enum Kind { kCreate, kExit } kind;
  pid_t pid = 0;       // the process: one tracer may serve every process of a binary
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint64_t goid = 0;
  uint64_t parent_goid = 0;   // 0 when unknown (before 1.21)
  uint64_t creator_goid = 0;  // 0 when unknown
  uint64_t gopc = 0;          // runtime addresses (add nothing; subtract load bias to symbolize)
  uint64_t startpc = 0;
  std::vector<uint64_t> creation_stack;  // innermost first, starting at gopc; empty if it did not validate
};

class GoroutineTracer {
 public:
  // Loads the BPF program; throws Error naming what is missing.
  // ring_bytes: the ring buffer (a power of two); a creation event is ~330 bytes.
  GoroutineTracer(const TargetProcess& target, const RuntimeLayout& layout, uint32_t ring_bytes = 16u << 20);
  ~GoroutineTracer();

  // Attaches every probe; when it returns, events count.
  void Attach(const std::vector<ProbeSite>& sites);
  void Detach();
  size_t probes() const;
  // Drains the ring buffer, calling on_event for each event. Returns how many.
  int Drain(const std::function<void(const GoroutineEvent&)>& on_event);
  // Events the BPF side could not submit (ring buffer full).
  uint64_t lost() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace goscope
