// The runtime's goroutine descriptors (runtime.g) as goscope reads them from a
// live process: which fields at which offsets, the list of them
// (runtime.allgs), one g decoded, and the names of wait reasons. Knows nothing
// of stacks, unwinding or symbols (goroutine_snapshot does that on top).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "process/process_memory.h"
#include "runtime_layout.h"

namespace goscope {

// Offsets in runtime.g of the fields goscope reads.
struct GLayout {
  uint64_t size = 0, goid = 0, status = 0, waitreason = 0, gopc = 0, startpc = 0, sched_sp = 0, sched_pc = 0,
           sched_bp = 0, stack_lo = 0, stack_hi = 0, syscallsp = 0, syscallpc = 0;
  std::optional<uint64_t> waitsince, parent_goid, syscallbp, waiting;
};

// Throws Error naming what the layout lacks.
GLayout ResolveGLayout(const RuntimeLayout& layout, pid_t pid);

// What was read of one g.
struct GRecord {
  uint64_t addr = 0;
  uint64_t goid = 0;
  uint32_t status = 0;  // _Gscan bit cleared
  uint8_t waitreason = 0;
  int64_t waitsince = 0;
  std::optional<uint64_t> parent_goid;
  uint64_t gopc = 0, startpc = 0;
  uint64_t sched_sp = 0, sched_pc = 0, sched_bp = 0;
  uint64_t stack_lo = 0, stack_hi = 0;
  uint64_t syscallsp = 0, syscallpc = 0, syscallbp = 0;
  uint64_t waiting = 0;  // first sudog this g waits through (0 if none, or not in the layout)
};

// Decodes the g copied at buf[base, base + L.size).
GRecord DecodeG(const GLayout& L, std::span<const uint8_t> buf, size_t base, uint64_t addr);

// The entries of runtime.allgs (every g ever created, free ones included).
// Throws Error if the process is gone or the slice is implausible.
std::vector<uint64_t> ReadAllgs(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias);

// "waiting", "running", ...: Go's names for _G* values.
std::string StateName(uint32_t status);

// Wait-reason strings by index: the target's own runtime.waitReasonStrings
// (read from its memory, so relocated pointers in PIE are already applied),
// else the per-version constants mapped to Go's strings.
class WaitReasons {
 public:
  WaitReasons(const ProcessMemory& mem, const RuntimeLayout& layout, uint64_t bias);
  std::string Name(uint8_t index) const;
  const std::string& source() const { return source_; }  // "target memory", "table" or "none"

 private:
  std::vector<std::optional<std::string>> names_;
  std::string source_;
};

}  // namespace goscope
