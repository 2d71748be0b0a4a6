// The command-line face of a TraceSession, shared by `attach` and `run`: the
// options, their parsing and the help text that lists what a run writes.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "cli/cli_args.h"
#include "session/trace_session.h"

namespace goscope {

// --interval, --alloc-mode, --heap-rate, --no-write, --format.
std::vector<OptionSpec> TraceOptionSpecs();
// Throws Error naming a bad option.
TraceOptions TraceOptionsFrom(const CliArgs& args, const std::string& command);
// ./goscope-PID-YYYYmmdd-HHMMSS
std::string DefaultOutDir(pid_t pid);
// The files a TraceSession writes and how the heap profile works, for --help.
extern const char* const kTraceOutputsHelp;

}  // namespace goscope
