// The command-line face of a TraceSession, shared by `attach` and `run`: the
// options, their checks and the help text that lists what a run writes.
#pragma once
#include <sys/types.h>

#include <string>

#include <CLI/CLI.hpp>

#include "session/trace_session.h"

namespace goscope {

// The trace options as given; the defaults are TraceOptions' own.
struct TraceArgs {
  long long interval_s = TraceOptions{}.interval_s;
  std::string alloc_mode = TraceOptions{}.alloc_mode;
  long long heap_rate = TraceOptions{}.heap_rate;
  bool no_write = false;
  std::string format;  // "" or folded
  long long ring_bytes = TraceOptions{}.goroutine_ring_bytes;
  std::string creations;  // "" for the command's default
  bool exit_times = false;
  bool prove_leaks = false;
};

// --interval, --alloc-mode, --heap-rate, --no-write, --format, --ring-size, --creations,
// --exit-times, --prove-leaks.
void AddTraceOptions(CLI::App& cmd, TraceArgs& args);
// Throws UsageError naming a bad option. creations: the command's default
// (--exit-times alone implies always).
TraceOptions TraceOptionsFrom(const TraceArgs& args, const std::string& command, CreationProbes creations);
// ./goscope-PID-YYYYmmdd-HHMMSS
std::string DefaultOutDir(pid_t pid);
// How DefaultOutDir reads in --help.
extern const char* const kDefaultOutDirHelp;
// The files a TraceSession writes and how the heap profile works, for --help.
extern const char* const kTraceOutputsHelp;

}  // namespace goscope
