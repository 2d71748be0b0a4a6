// Which words of a Go frame hold pointers at a given pc, as the garbage
// collector knows it: the pclntab's stack maps (FUNCDATA_LocalsPointerMaps,
// FUNCDATA_ArgsPointerMaps, indexed by PCDATA_StackMapIndex) and the frame's
// address-taken stack objects (FUNCDATA_StackObjects). The layout of an amd64
// frame, after runtime/stkframe.go: fp = sp + SP delta + 8 (the return
// address), varp = fp - 16 (below the saved frame pointer) when the frame has
// locals, argp = fp. Knows nothing of processes: callers bring the words.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "pclntab.h"

namespace goscope {

struct FramePointerMap {
  // Offsets (bytes, from the frame's sp) of the words that hold pointers.
  std::vector<uint32_t> pointer_words;
  // Address-taken locals and results ([offset from sp, size)), which the GC
  // scans by their type; callers without types scan every word of them.
  std::vector<std::pair<uint32_t, uint32_t>> objects;
  uint64_t fp_offset = 0;  // fp - sp: the caller's sp; the return address is just below
};

// The map of f's frame when execution continues at pc (a return address, or
// the pc a parked goroutine resumes at), with the frame's sp. nullopt when
// the binary has no map the GC would trust there: an assembly frame with
// locals, a reflect stub (arguments of unknown size), no SP delta, a map index
// out of range. Callers then scan that stack conservatively.
std::optional<FramePointerMap> FramePointerMapAt(const Pclntab& tab, const Func& f, uint64_t pc);

// Entries of the functions a signal enters rather than a call (asynchronous
// preemption, a fault, a debugger's call): the frame below one of them was
// stopped at an arbitrary pc, which its caller's return address is not.
std::set<uint64_t> TrapFunctionEntries(const Pclntab& tab);

}  // namespace goscope
