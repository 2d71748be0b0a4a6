// The goscope subcommands. Each takes the arguments after its name, prints its
// own --help, and returns the process exit code.
#pragma once

namespace goscope {

int RunInfo(int argc, char** argv);
int RunSymbolize(int argc, char** argv);
int RunProbeCheck(int argc, char** argv);
int RunGoroutines(int argc, char** argv);
int RunAttach(int argc, char** argv);
int RunGc(int argc, char** argv);
int RunHeap(int argc, char** argv);
int RunRun(int argc, char** argv);
int RunAgent(int argc, char** argv);

}  // namespace goscope
