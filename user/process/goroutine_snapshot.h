// Every goroutine of a live Go process, read from its memory without probes:
// runtime.allgs, each g's fields by the resolved runtime layout, and parked
// goroutines' stacks unwound by frame pointers from their saved registers.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "model/goroutine.h"
#include "process/process_memory.h"
#include "process/target_process.h"
#include "runtime_layout.h"

namespace goscope {

struct SnapshotOptions {
  bool include_dead = false;   // _Gdead gs are on free lists: not goroutines
  bool freeze = false;         // stop every thread (ptrace) for a consistent view
  int max_depth = 128;         // physical frames per goroutine
  // Unwind by the saved frame-pointer chain instead of the pclntab's SP-delta
  // tables (what Go's own traceback uses). Kept to cross-check the two: they
  // agree for parked goroutines, but only the tables handle frames interrupted
  // by asynchronous preemption and syscalls before go1.23 (no saved BP).
  bool frame_pointers = false;
};

// Throws Error (with pid and reason) when the process is gone or its layout is unknown.
Snapshot TakeSnapshot(const TargetProcess& target, const RuntimeLayout& layout, const SnapshotOptions& opts = {});

}  // namespace goscope
