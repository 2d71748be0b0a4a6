// The goscope subcommands. Each Add*Command declares its subcommand of the
// goscope app (options, arguments, help) and returns what runs it once the
// command line has parsed; main() maps what it throws to the exit status.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/options.h"

namespace goscope {

Command AddInfoCommand(CLI::App& goscope);
Command AddSymbolizeCommand(CLI::App& goscope);
Command AddAttachCommand(CLI::App& goscope);
Command AddRunCommand(CLI::App& goscope);
Command AddAgentCommand(CLI::App& goscope);
Command AddGoroutinesCommand(CLI::App& goscope);
Command AddGcCommand(CLI::App& goscope);
Command AddHeapCommand(CLI::App& goscope);
Command AddProbeCheckCommand(CLI::App& goscope);
Command AddStatsCommand(CLI::App& goscope);
Command AddLeaksCommand(CLI::App& goscope);
Command AddRetainCommand(CLI::App& goscope);

}  // namespace goscope
