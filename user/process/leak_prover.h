// Proves goroutines leaked from outside the process, by the rule of Go 1.26's
// goroutineleak profile, for every release goscope reads: with every thread
// stopped, mark the heap from the globals (data and bss), the registers and
// system stacks of every thread, and the stacks of every goroutine that can
// run; a goroutine blocked on a channel, mutex, WaitGroup or Cond can run if
// what it waits on is marked (or is not in the heap), and then its stack is
// marked from too; repeat until none changes. The rest can never run again.
//
// Globals are marked by the GC's own pointer bitmaps, parked goroutines'
// stacks and the frames of system stacks (but the two innermost) by the
// pclntab's stack maps, as the GC does; heap objects, g structs (but their
// stack bounds), registers, running goroutines and the rest conservatively
// (any word that points into a heap object keeps it). A stale word can hide
// a leak; nothing can make a live goroutine look leaked.
// The runtime's own records that would hide every leak are not followed: g
// structs (a blocked g points at what it waits on) and runtime.semtable (the
// semaphore waiters). Nothing is written to the process; it is let go on
// every path out (see Freezer).
#pragma once
#include <vector>

#include "model/leak_proof.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

struct LeakProofOptions {
  // Give up (and let the process go) once it has been stopped this long.
  double max_pause_seconds = 5;
};

// Throws Error: the process is gone, its heap or goroutines cannot be read
// (a release whose layout goscope does not know), or the pause ran over
// max_pause_seconds. The process runs on in every case.
LeakProof ProveGoroutineLeaks(const TargetProcess& target, const RuntimeLayout& layout,
                              const LeakProofOptions& opts = {});

// A proof with its leaked goroutines grouped by wait, stack and creation site.
struct GroupedLeakProof {
  LeakProof proof;
  std::vector<ProvenLeakGroup> groups;
};
// The proof, then a snapshot once the process is let go for the stacks (a
// leaked goroutine never runs again, so its stack is what it was during the
// proof). Throws Error as ProveGoroutineLeaks and TakeSnapshot do.
GroupedLeakProof ProveAndGroupLeaks(const TargetProcess& target, const RuntimeLayout& layout,
                                    const LeakProofOptions& opts = {});

}  // namespace goscope
