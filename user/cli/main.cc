#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "binary_info.h"
#include "cli/commands.h"
#include "error.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

constexpr Command kCommands[] = {
    {"info", "what goscope knows about a Go binary or process, and whether it can be traced", goscope::RunInfo},
    {"symbolize", "addresses to function, file and line (an addr2line for Go, stripped binaries too)",
     goscope::RunSymbolize},
    {"attach", "trace goroutine creation and exit in a running Go process; report leak suspects",
     goscope::RunAttach},
    {"run", "start a Go program traced from its first instruction: what package init allocates, then attach",
     goscope::RunRun},
    {"agent", "every Go process on the host, continuously: Prometheus /metrics, pprof, leak reports",
     goscope::RunAgent},
    {"goroutines", "every goroutine's state, wait reason and stack, from memory (no probes)", goscope::RunGoroutines},
    {"gc", "garbage-collection cycles and stop-the-world pauses, with the numbers gctrace prints", goscope::RunGc},
    {"heap", "heap profile (pprof): what allocates and what stays live, via Go's own sampler or exactly", goscope::RunHeap},
    {"probe-check", "count hits at every probe site in a live process (proves the sites are right)",
     goscope::RunProbeCheck},
};

void Usage(FILE* out) {
  fmt::print(out, "goscope: trace unmodified Go programs from the outside\n\nusage: goscope COMMAND [options]\n\n");
  for (const auto& c : kCommands) fmt::print(out, "  {:<12} {}\n", c.name, c.summary);
  fmt::print(out, "\nRun 'goscope COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    Usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const goscope::Untraceable& e) {
      fmt::print(stderr, "goscope {}: {}\n", c.name, e.what());
      return 3;
    } catch (const goscope::Error& e) {
      fmt::print(stderr, "goscope {}: {}\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "goscope {}: internal error: {}\n", c.name, e.what());
      return 1;
    }
  }
  fmt::print(stderr, "goscope: unknown command '{}'\n", argv[1]);
  Usage(stderr);
  return 2;
}
