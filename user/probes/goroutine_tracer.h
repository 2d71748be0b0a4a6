// The user-space half of bpf/goroutines.bpf.c: loads it with the target's
// runtime offsets, attaches it at the reader's probe sites, and hands each
// lifecycle event to a callback. Knows nothing of reports or output formats.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "model/goroutine.h"
#include "probe_sites.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

class GoroutineTracer {
 public:
  // Loads the BPF program; throws Error naming what is missing.
  // ring_bytes: the ring buffer (a power of two); a creation event is ~330 bytes.
  GoroutineTracer(const TargetProcess& target, const RuntimeLayout& layout, uint32_t ring_bytes = 16u << 20);
  ~GoroutineTracer();

  // Attaches the creation probes, and the exit probe when exits is set (a
  // second trap per goroutine: callers infer exits from snapshots instead
  // unless they need exit times). When it returns, events count.
  void Attach(const std::vector<ProbeSite>& sites, bool exits);
  bool attached() const { return probes() > 0; }
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
