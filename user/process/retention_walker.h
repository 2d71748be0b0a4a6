// What keeps a live Go process's memory alive, measured from outside: with
// every thread stopped, the heap is marked from one root at a time (each
// global, each pointer slot of each goroutine's frames, then the goroutines'
// descriptors, timers, finalizers, threads), each root until nothing new is
// reached, so every reachable object is counted once, under the first root
// whose chain reaches it, and under that chain (the type of each object on the
// way). Globals come first: what a global's structure holds stays its, even
// when a goroutine holds a pointer into it too.
//
// Roots are named by the binary's symbols (globals) and its pclntab (frames:
// function and offset from the frame's SP), so a stripped binary's goroutine
// roots are named and its globals are shown by address. Object types come from
// where the runtime records them (from 1.22: malloc headers and span.largeType;
// noscan objects and small ones have none): an object without one is shown by
// its size. Nothing is written to the process; it is let go on every path out.
#pragma once
#include "model/retention.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

struct RetentionOptions {
  double max_pause_seconds = 5;  // give up (the process runs on) once stopped this long
  int max_depth = 12;            // objects on a path below the root; deeper ones count at this depth
};

// Throws Error: the process is gone, its heap or goroutines cannot be read (a
// release whose layout goscope does not know), or the pause ran over
// max_pause_seconds. The process runs on in every case.
Retention MeasureRetention(const TargetProcess& target, const RuntimeLayout& layout,
                           const RetentionOptions& opts = {});

}  // namespace goscope
