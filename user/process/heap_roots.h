// The roots of a stopped Go process's heap, as its GC would mark from them:
// the binary's globals (by the GC's own pointer bitmaps), the Ps' timer heaps,
// finalizer and cleanup records, every thread's registers and the system stack
// it is on (its outer frames by the pclntab's stack maps), and goroutines (a
// parked one's stack by the stack maps, anything else conservatively). Each
// MarkFrom* hands what it finds to a HeapMarker. Which roots to take, in what
// order, and what to hide, is the caller's (goscope leaks takes runnable
// goroutines only; goscope retain all).
// Knows nothing of why a goroutine blocks or of what the objects are.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <set>
#include <vector>

#include "process/freezer.h"
#include "process/g_records.h"
#include "process/heap_marker.h"
#include "process/heap_spans.h"
#include "process/proc_maps.h"
#include "process/process_memory.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

// Where a root lies, told to an observer before what it holds is marked.
struct RootSite {
  enum class Kind {
    kGlobal,     // a pointer word of data or bss; addr: its address
    kFrame,      // a pointer word of a parked goroutine's frame; pc: the frame's, offset: from its SP
    kStack,      // a goroutine's stack, scanned conservatively
    kGoroutine,  // the goroutine's own descriptor (defers, panics, labels)
    kTimers,     // a P's timer heap
    kFinalizer,  // a finalizer or cleanup record and the object it is for
    kThread,     // a thread's registers, or the system stack it is on
  };
  Kind kind;
  uint64_t addr = 0, pc = 0, offset = 0;
  const GRecord* g = nullptr;  // kFrame, kStack, kGoroutine
};

// The roots the threads of a stopped process hold, and the goroutines they run.
struct ThreadRoots {
  std::vector<uint64_t> registers;
  std::vector<std::pair<uint64_t, uint64_t>> system_stacks;  // (pc, sp) of threads not on a goroutine's stack
  std::set<uint64_t> on_cpu;  // addresses of the gs a thread is running
  // The descriptors of the threads' system goroutines (m.g0, m.gsignal: in
  // no allgs), found through the g a thread in Go code holds in R14.
  std::set<uint64_t> system_gs;
};

class HeapRoots {
 public:
  // Throws Error if the layout lacks what a goroutine's stack needs.
  HeapRoots(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem,
            const HeapSpans& heap, HeapMarker& marker);

  // Told before each root is marked from; none by default.
  void OnRoot(std::function<void(const RootSite&)> hook) { on_root_ = std::move(hook); }

  // Every live g of the process (runtime.allgs, decoded). Throws Error if one cannot be read.
  std::vector<GRecord> ReadGoroutines() const;
  const GLayout& g_layout() const { return g_layout_; }

  // The pointer words of data and bss, by moduledata.gcdatamask/gcbssmask,
  // less [skip_lo, skip_hi). Throws Error if the globals cannot be found.
  void MarkFromGlobals(uint64_t skip_lo = 0, uint64_t skip_hi = 0);
  // Hides the Ps (stale GC buffers and caches) and returns their timer heaps,
  // the one thing of a P a program relies on. Throws Error if allp is unknown.
  std::vector<uint64_t> HidePs();
  void MarkFromTimers(const std::vector<uint64_t>& heaps);
  // Finalizer and cleanup records (span specials). Throws Error if their layout is unknown.
  void MarkFromSpecials();
  // Registers of every stopped thread, which goroutine each is on, and its
  // system goroutines.
  ThreadRoots ReadThreads(const Freezer& freezer, const std::vector<GRecord>& gs) const;
  // The registers, system stacks and system goroutines' descriptors. (A
  // caller that hides descriptors from the marker, as goscope leaks does,
  // hides threads.system_gs too: reached as heap objects, their stack bounds
  // would count as references.)
  void MarkFromThreads(const ThreadRoots& threads, const std::vector<GRecord>& gs);
  // A goroutine's descriptor and its stack: a parked one's by the stack maps,
  // else every word from its saved SP up (all of it when that is not known).
  void MarkFromGoroutine(const GRecord& g);

  size_t stacks_precise() const { return stacks_precise_; }
  size_t stacks_conservative() const { return stacks_conservative_; }
  size_t system_stacks_precise() const { return system_stacks_precise_; }
  size_t system_stacks_conservative() const { return system_stacks_conservative_; }

 private:
  struct FrameWord {
    uint64_t value, pc, offset;
  };
  // A stack's pointer words by the frames' stack maps, from the frame at
  // (pc, sp) outwards; `unwalked` is the sp from which on a frame could not
  // be trusted (none if the walk reached the stack's outermost frame).
  struct FrameWalk {
    std::vector<FrameWord> words;
    std::optional<uint64_t> unwalked;
  };
  // stack holds [lo, hi) of the process's memory.
  FrameWalk WalkFrames(uint64_t pc, uint64_t sp, uint64_t lo, uint64_t hi, const std::vector<uint8_t>& stack) const;
  std::optional<std::vector<FrameWord>> StackPointers(const GRecord& g) const;
  void ScanSystemStack(const std::vector<Mapping>& maps, const std::vector<GRecord>& gs, uint64_t pc, uint64_t sp);
  bool ScanSystemFrames(uint64_t pc, uint64_t sp, uint64_t end);
  void ScanDescriptor(uint64_t g);
  void Tell(const RootSite& site) const {
    if (on_root_) on_root_(site);
  }

  const TargetProcess& target_;
  const RuntimeLayout& layout_;
  const ProcessMemory& mem_;
  const HeapSpans& heap_;
  HeapMarker& marker_;
  GLayout g_layout_;
  uint64_t g_m_ = 0, m_g0_ = 0, m_gsignal_ = 0, m_curg_ = 0;  // 0: unknown (system gs not found)
  std::set<uint64_t> trap_callers_;  // a frame they interrupted has no map at its pc
  uint64_t goexit_ = 0;
  std::function<void(const RootSite&)> on_root_;
  size_t stacks_precise_ = 0, stacks_conservative_ = 0;
  size_t system_stacks_precise_ = 0, system_stacks_conservative_ = 0;
};

}  // namespace goscope
