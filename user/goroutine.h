// The goroutine model: what goscope knows about one goroutine, from a
// snapshot of the target's memory and/or from lifecycle events. Plain data;
// knows nothing of how it was read or how it is printed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace goscope {

// One symbolized frame, as printed and serialized (owning its strings).
struct GoFrame {
  std::string function;
  std::string file;
  int64_t line = 0;
  uint64_t pc = 0;  // the return address / pc as read (not pc-1)
  uint64_t entry = 0;    // runtime entry address of the physical function pc is in
  bool inlined = false;  // inlined into the next frame (same pc)
  bool wrapper = false;  // compiler-generated wrapper (Go's tracebacks hide these)
};

enum class StackQuality {
  kComplete,     // unwound to the goroutine's start
  kTruncated,    // unwinding stopped early (depth limit or a frame that did not validate)
  kUnavailable,  // running on a CPU at the instant of the snapshot: no reliable stack
};

struct Goroutine {
  uint64_t goid = 0;
  uint32_t status = 0;           // runtime _G* value, _Gscan bit cleared
  std::string state;             // "running", "runnable", "waiting", "syscall", "dead", ...
  std::string wait_reason;       // "chan receive", ...; empty if not waiting
  std::optional<double> wait_seconds;      // from g.waitsince when the runtime set it
  std::optional<uint64_t> parent_goid;     // Go 1.21+
  uint64_t gopc = 0;             // pc of the go statement (return address)
  uint64_t startpc = 0;          // entry of the goroutine's function
  // gopc symbolized as Go prints it: the physical function containing the go
  // statement, at the (innermost) file:line of gopc-1. None for goroutine 1.
  std::optional<GoFrame> created_by;
  std::vector<GoFrame> stack;    // innermost first, inlined frames expanded
  // One per physical frame, innermost first, as runtime.Callers gives them:
  // symbolize at pc-1 (for the frame Go's traceback takes at face value, pc+1).
  std::vector<uint64_t> stack_pcs;
  StackQuality stack_quality = StackQuality::kComplete;
  std::string stack_note;        // why the stack is truncated or unavailable; empty if complete
  bool system = false;           // runtime-internal: left out by runtime.NumGoroutine()
};

}  // namespace goscope
