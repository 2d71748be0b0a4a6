// The goroutine model: what goscope knows about one goroutine, from a
// snapshot of the target's memory and/or from lifecycle events. Plain data;
// knows nothing of how it was read or how it is printed.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "frame.h"

namespace goscope {

enum class StackQuality {
  kComplete,     // unwound to the goroutine's start
  kTruncated,    // unwinding stopped early (depth limit or a frame that did not validate)
  kUnavailable,  // running on a CPU at the instant of the snapshot: no reliable stack
};

// Goroutine states (runtime2.go): 0-9 the same in every release 1.19-1.27;
// 1.26 added _Gleaked (a waiting goroutine the runtime's leak detector found
// can never wake; it keeps that status) and _Gdeadextra (a dead g lent to an
// extra M for cgo callbacks, which the runtime counts nowhere).
namespace gstatus {
constexpr uint32_t kRunnable = 1, kRunning = 2, kSyscall = 3, kWaiting = 4, kDead = 6, kCopystack = 8,
                   kPreempted = 9, kLeaked = 10, kDeadExtra = 11, kScan = 0x1000;
}  // namespace gstatus
// A g on a free list (or lent to an extra M): not a goroutine.
inline bool IsDeadStatus(uint32_t s) { return s == gstatus::kDead || s == gstatus::kDeadExtra; }
// Parked with its wait reason and wait time still set.
inline bool IsWaitingStatus(uint32_t s) { return s == gstatus::kWaiting || s == gstatus::kLeaked; }
// Not on a thread: its saved registers (g.sched, or syscallsp when in a
// syscall) say where its stack is.
inline bool HasSavedStack(uint32_t s) {
  return s == gstatus::kRunnable || IsWaitingStatus(s) || s == gstatus::kSyscall || s == gstatus::kPreempted;
}

// A goroutine's symbolized stack, shared by every goroutine parked at the
// same pcs (a leak holds thousands of identical stacks): read-only and cheap
// to copy; reads like the vector of frames it holds.
class SharedFrames {
 public:
  SharedFrames() = default;
  SharedFrames(std::vector<Frame> frames)  // NOLINT: a vector of frames is a stack
      : frames_(std::make_shared<const std::vector<Frame>>(std::move(frames))) {}
  SharedFrames(std::initializer_list<Frame> frames) : SharedFrames(std::vector<Frame>(frames)) {}

  const std::vector<Frame>& frames() const { return frames_ ? *frames_ : Empty(); }
  operator const std::vector<Frame>&() const { return frames(); }  // NOLINT
  std::vector<Frame>::const_iterator begin() const { return frames().begin(); }
  std::vector<Frame>::const_iterator end() const { return frames().end(); }
  size_t size() const { return frames().size(); }
  bool empty() const { return frames().empty(); }
  const Frame& operator[](size_t i) const { return frames()[i]; }

 private:
  static const std::vector<Frame>& Empty();
  std::shared_ptr<const std::vector<Frame>> frames_;
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
  // Shared by the goroutines of one go statement (100,000 of them, say).
  std::shared_ptr<const Frame> created_by;
  SharedFrames stack;            // innermost first, inlined frames expanded
  // One per physical frame, innermost first, as runtime.Callers gives them:
  // symbolize at pc-1 (for the frame Go's traceback takes at face value, pc+1).
  std::vector<uint64_t> stack_pcs;
  StackQuality stack_quality = StackQuality::kComplete;
  std::string stack_note;        // why the stack is truncated or unavailable; empty if complete
  bool system = false;           // runtime-internal: left out by runtime.NumGoroutine()
};

// Every goroutine of a process at one moment (process/goroutine_snapshot reads it).
struct Snapshot {
  pid_t pid = 0;
  std::string go_version;
  std::vector<Goroutine> goroutines;  // ordered by goid
  double read_seconds = 0;            // wall time spent reading
  double stopped_seconds = 0;         // time the target was frozen (0 unless freeze)
  bool frozen = false;                // taken with every thread stopped
  size_t allgs_len = 0;               // entries in runtime.allgs (free-list gs included)
  // The highest goid in runtime.allgs, dead gs included. A g keeps its goid
  // until reused, and each P takes goids 16 at a time, so this is how many
  // goroutines the process has created, less at most 16 per P.
  uint64_t max_goid = 0;
  std::string wait_reasons_from;      // "target memory" (runtime.waitReasonStrings) or "table"
  size_t user_goroutines() const;     // what runtime.NumGoroutine() would say
};

// A goroutine created or exited, as the lifecycle probes saw it.
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
  // No stack walked: this process's go statement at gopc sent one before
  // (the probe walks each go statement's stack once).
  bool stack_of_site = false;
};

}  // namespace goscope
