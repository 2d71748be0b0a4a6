// goscope leaks -p PID: goroutines proven leaked, by reachability, from outside.
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "binary_info.h"
#include "cli/commands.h"
#include "cli/traceable_process.h"
#include "error.h"
#include "model/leak_proof.h"
#include "output/atomic_file.h"
#include "output/leak_report_format.h"
#include "process/leak_prover.h"
#include "process/target_process.h"

namespace goscope {
namespace {

struct LeaksArgs {
  std::optional<long long> pid;
  long long max_pause_ms = 5000;
  bool json = false;
  std::optional<std::string> out;
};

constexpr const char* kDetails =
    "Proves which goroutines of a running Go program can never run again, by the rule\n"
    "of Go 1.26's goroutineleak profile, computed by goscope from the process's memory:\n"
    "Go 1.19 to 1.27, stripped binaries included, no pprof endpoint and no change to\n"
    "the program.\n"
    "\n"
    "With every thread stopped (ptrace), goscope marks the heap from the globals, the\n"
    "threads' registers and system stacks, and the stacks of the goroutines that can\n"
    "run. A goroutine blocked on a channel, select, sync.Mutex, RWMutex, WaitGroup or\n"
    "Cond can run if what it waits on is reached (or is not in the heap), and then what\n"
    "its stack holds is reached too; this repeats until nothing changes. The blocked\n"
    "goroutines left, and those in select {} or on a nil channel, are leaked: nothing\n"
    "that can run holds what would wake them. Goroutines the runtime itself already\n"
    "found leaked (after someone fetched its goroutineleak profile) count as leaked.\n"
    "Goroutine 1 blocked in select {} is not reported, as the runtime does.\n"
    "\n"
    "Globals and parked goroutines' stacks are marked by the runtime's own pointer maps;\n"
    "heap objects and running goroutines conservatively (any word that looks like a\n"
    "pointer keeps an object): a stale word may hide a leak, but a goroutine that can\n"
    "run is never called leaked.\n"
    "Before go1.26 the runtime does not record what a sync.Cond waiter waits on: such\n"
    "goroutines are counted as able to run, and a note says how many.\n"
    "\n"
    "The process is stopped while its goroutines and heap are read, about half a second\n"
    "per GiB of pointer-carrying heap on a small machine; the pause is printed.\n"
    "--max-pause gives up (the process runs on, nothing is concluded) once it has been\n"
    "stopped that long. Nothing is written to the process; if goscope dies, the kernel\n"
    "lets the process go.\n"
    "\n"
    "Leaked goroutines are grouped by wait, blocked stack and creation site. Needs root\n"
    "(ptrace, process_vm_readv).\n"
    "\n"
    "Exit status 0 on success (leaks or none), 1 on error, 2 on bad usage.\n";

int RunLeaks(const LeaksArgs& args) {
  auto [target, info] = OpenTraceableProcess(static_cast<pid_t>(*args.pid));

  LeakProofOptions opts;
  opts.max_pause_seconds = static_cast<double>(args.max_pause_ms) / 1000;
  auto [proof, groups] = ProveAndGroupLeaks(target, info.layout, opts);

  std::string text = args.json ? LeakProofJson(proof, groups) : LeakProofText(proof, groups);
  if (args.out) {
    AtomicFileWriter file(*args.out);
    file.Write(text);
    file.Commit();
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  fmt::print(stderr, "goscope leaks: process {} stopped for {:.1f} ms\n", target.pid, proof.pause_seconds * 1000);
  return 0;
}

}  // namespace

Command AddLeaksCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "leaks", "goroutines proven leaked (reachability, from memory)", kDetails);
  auto args = std::make_shared<LeaksArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to examine")->required();
  AddNumberOption(*cmd, "--max-pause", args->max_pause_ms, "MS",
                  "give up once the process has been stopped this many milliseconds")
      ->check(NumberInRange(1, 600000, "must be between 1 and 600000"));
  AddJsonFlag(*cmd, args->json, "print JSON");
  AddOutputOption(*cmd, args->out, "FILE", "write to FILE (whole or not at all) instead of standard output");
  return {cmd, [args] { return RunLeaks(*args); }};
}

}  // namespace goscope
