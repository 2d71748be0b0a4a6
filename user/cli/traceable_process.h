// The live Go process a command was pointed at (-p PID): found, its binary
// read, and refused (Untraceable: exit 3) unless goscope can read it, so the
// commands that read a process's memory refuse alike and name it alike.
#pragma once
#include <sys/types.h>

#include "binary_info.h"
#include "process/target_process.h"

namespace goscope {

struct TraceableProcess {
  TargetProcess target;
  BinaryInfo info;
};

// Throws Error ("process N not found", not Go, unreadable) or Untraceable.
TraceableProcess OpenTraceableProcess(pid_t pid);

}  // namespace goscope
