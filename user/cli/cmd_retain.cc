// goscope retain -p PID: what keeps a Go program's memory alive, as a pprof profile.
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "binary_info.h"
#include "cli/commands.h"
#include "cli/traceable_process.h"
#include "model/retention.h"
#include "output/retention_format.h"
#include "process/retention_walker.h"
#include "process/target_process.h"

namespace goscope {
namespace {

struct RetainArgs {
  std::optional<long long> pid;
  std::optional<std::string> out;
  long long max_pause_ms = 5000;
  long long depth = 12;
  long long top = 10;
};

constexpr const char* kDetails =
    "Attributes every reachable object of a running Go program's heap to the chain of\n"
    "references that keeps it alive, and writes them as a pprof profile (inuse_space,\n"
    "inuse_objects): `go tool pprof -top FILE`, or -http=: for a graph. Each sample is a\n"
    "chain: its root at the bottom of the stack (a global, or a goroutine's frame:\n"
    "function and slot), then the type of each object on the way, the retained objects'\n"
    "own type at the top. Go 1.19 to 1.27, stripped binaries included; no pprof endpoint\n"
    "and no change to the program.\n"
    "\n"
    "With every thread stopped (ptrace), goscope marks the heap from one root at a time:\n"
    "each global (by the runtime's pointer bitmaps), each pointer slot of each parked\n"
    "goroutine's frames (by the stack maps; other stacks are read conservatively), then\n"
    "the goroutines' descriptors, the timers, finalizer records and the threads. Each\n"
    "object counts once, under the first root that reaches it, globals first: what a\n"
    "global's structure holds stays its even when a goroutine points into it too.\n"
    "\n"
    "Names: globals by the binary's symbol table (a stripped binary's by address),\n"
    "frames by the pclntab (stripped binaries keep it). Types where the runtime records\n"
    "them: from go1.22, a malloc header on objects with pointers over 512 bytes and the\n"
    "type of each large object; other objects (all before go1.22) are shown by size,\n"
    "e.g. \"(48 B)\" or \"(65536 B, no pointers)\"; \"[]T\" is an array of T (a slice's\n"
    "backing). Heap objects are scanned conservatively: a stale word can keep an object\n"
    "counted that the GC would free.\n"
    "\n"
    "The process is stopped while its heap is read (about half a second per GiB of\n"
    "pointer-carrying heap on a small machine); the pause is printed. --max-pause gives\n"
    "up (the process runs on, nothing is written) once it has been stopped that long.\n"
    "Nothing is written to the process; if goscope dies, the kernel lets it go. Needs\n"
    "root (ptrace, process_vm_readv).\n"
    "\n"
    "Exit status 0 on success, 1 on error, 2 on bad usage.\n";

int RunRetain(const RetainArgs& args) {
  auto [target, info] = OpenTraceableProcess(static_cast<pid_t>(*args.pid));

  RetentionOptions opts;
  opts.max_pause_seconds = static_cast<double>(args.max_pause_ms) / 1000;
  opts.max_depth = static_cast<int>(args.depth);
  Retention r = MeasureRetention(target, info.layout, opts);

  const std::string path = args.out.value_or(fmt::format("retain-{}.pb.gz", target.pid));
  RetentionProfile(r).WriteFile(path);
  const std::string summary = RetentionSummary(r, path, static_cast<size_t>(args.top));
  std::fwrite(summary.data(), 1, summary.size(), stdout);
  return 0;
}

}  // namespace

Command AddRetainCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "retain", "what keeps the heap alive, as a pprof profile (from memory)", kDetails);
  auto args = std::make_shared<RetainArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to examine")->required();
  AddOutputOption(*cmd, args->out, "FILE", "the profile to write (default retain-PID.pb.gz; whole or not at all)");
  AddNumberOption(*cmd, "--max-pause", args->max_pause_ms, "MS",
                  "give up once the process has been stopped this many milliseconds")
      ->check(NumberInRange(1, 600000, "must be between 1 and 600000"));
  AddNumberOption(*cmd, "--depth", args->depth, "N",
                  "objects shown on a chain below its root; deeper ones count at this depth")
      ->check(NumberInRange(1, 1000, "must be between 1 and 1000"));
  AddNumberOption(*cmd, "--top", args->top, "N", "roots listed in the summary")
      ->check(NumberInRange(0, 100000, "must be between 0 and 100000"));
  return {cmd, [args] { return RunRetain(*args); }};
}

}  // namespace goscope
