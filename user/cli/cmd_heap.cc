// goscope heap -p PID: a heap profile of a running Go process, from outside:
// Go's own allocation sampler's records read from its memory (sampled mode),
// or every allocation counted in the kernel (exact mode).
#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "output/atomic_file.h"
#include "binary_info.h"
#include "cli/commands.h"
#include "error.h"
#include "output/heap_profile.h"
#include "session/heap_session.h"
#include "probes/heap_tracer.h"
#include "process/memprofilerate.h"
#include "process/run_control.h"
#include "process/target_process.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

struct HeapArgs {
  std::optional<long long> pid;
  long long duration = 0;
  std::optional<std::string> out;
  std::string alloc_mode = "sampled";
  long long heap_rate = kDefaultHeapRate;
  bool no_write = false;
  std::optional<std::string> folded;
  std::string folded_value = "alloc_space";
};

constexpr const char* kDetails =
    "Profiles the heap allocations of a running Go program for a window (no restart, no\n"
    "code change), and writes a pprof profile that 'go tool pprof' reads.\n"
    "\n"
    "sampled  Go's own heap sampler (one allocation per MemProfileRate bytes on average):\n"
    "         the records it keeps in the process (runtime.mbuckets, what runtime/pprof\n"
    "         reads) are read from memory at the start and at the end of the window; no\n"
    "         probe, nothing beyond what the sampler itself costs. The profile has Go's\n"
    "         sample types and scaling: alloc_objects and alloc_space sampled during the\n"
    "         window; inuse_objects and inuse_space every sampled object not yet freed,\n"
    "         from before the window too, as Go's own heap profile has them. A process\n"
    "         that exits before the end leaves no samples (the profile says why).\n"
    "         A program that does not import runtime/pprof runs with MemProfileRate 0 (the\n"
    "         linker turns the sampler off). goscope then writes --heap-rate into\n"
    "         runtime.MemProfileRate for the window and writes 0 back at the end (the only\n"
    "         write goscope ever makes to a process; --no-write forbids it). A rate the\n"
    "         program set itself is never changed. Another goscope on the process shares\n"
    "         the rate already written (the last to leave writes 0 back), and a rate left\n"
    "         by a goscope that was killed is restored by the next (records in /run/lock).\n"
    "exact    every heap allocation (runtime.mallocgc, and on go1.27+ its size-specialized\n"
    "         allocators, each allocation once), counted in the kernel per stack and size class:\n"
    "         exact alloc_objects and alloc_space in the runtime's own accounting (slot\n"
    "         sizes), no frees. Tiny allocations (pointer-free, under 16 bytes), which the\n"
    "         runtime packs into shared 16-byte blocks, are listed at their own size and add\n"
    "         16 bytes per new block, 0 per shared one, as the runtime accounts them.\n"
    "         About 0.5-1 us per allocation (a uprobe each, and a walk of the stack: deeper\n"
    "         stacks cost more): for short windows, tests and allocation-count questions.\n"
    "\n"
    "The run ends at --duration, on SIGINT/SIGTERM or when the process exits, and always\n"
    "writes its outputs. Needs root.\n";

std::string Summarize(const std::vector<HeapRecord>& records, const HeapProfileInfo& info,
                      const FrameLookup& symbolize) {
  // The ten functions allocating the most, by the first frame Go's profile would show.
  std::map<std::string, std::pair<int64_t, int64_t>> by_func;  // alloc_space, inuse_space
  for (const auto& r : records) {
    auto stack = HeapProfileStack(r.stack, symbolize);
    std::string name = "?";
    if (!stack.empty()) {
      auto frames = symbolize(stack.front());
      if (!frames.empty()) name = frames.front().function;
    }
    auto [ao, ab] = info.exact ? std::pair{r.alloc_objects, r.alloc_bytes}
                               : ScaleHeapSample(r.alloc_objects, r.alloc_bytes, info.rate);
    auto [io, ib] = info.exact ? std::pair<int64_t, int64_t>{0, 0}
                               : ScaleHeapSample(r.inuse_objects, r.inuse_bytes, info.rate);
    by_func[name].first += ab;
    by_func[name].second += ib;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> top(by_func.begin(), by_func.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::string out = info.exact ? fmt::format("{:>14}  {}\n", "alloc_space", "allocating function")
                               : fmt::format("{:>14} {:>14}  {}\n", "alloc_space", "inuse_space", "allocating function");
  for (size_t i = 0; i < top.size() && i < 10; ++i) {
    if (info.exact)
      out += fmt::format("{:>14}  {}\n", top[i].second.first, top[i].first);
    else
      out += fmt::format("{:>14} {:>14}  {}\n", top[i].second.first, top[i].second.second, top[i].first);
  }
  return out;
}

int RunHeap(const HeapArgs& args) {
  double duration = static_cast<double>(args.duration);
  const std::string& mode_name = args.alloc_mode;
  const AllocMode mode = mode_name == "exact" ? AllocMode::kExact : AllocMode::kSampled;
  const int64_t want_rate = args.heap_rate;
  const std::string& folded_value = args.folded_value;
  if (mode == AllocMode::kExact && folded_value.starts_with("inuse"))
    throw UsageError("--folded-value: exact mode has no inuse values (it sees no frees)");

  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*args.pid));
  const std::string out = args.out.value_or(fmt::format("heap-{}.pb.gz", target.pid));
  const GoBinary& bin = *target.binary;
  BinaryInfo binary_info = PrepareBinary(target.binary);
  RequireTraceable(binary_info, fmt::format("process {}", target.pid));
  const RuntimeLayout& layout = binary_info.layout;
  const std::vector<ProbeSite>& sites = binary_info.sites;
  std::string why;
  if (mode == AllocMode::kExact && !CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);

  std::unique_ptr<HeapSession> heap;
  try {
    heap = std::make_unique<HeapSession>(target, layout, HeapOptions{mode, want_rate, !args.no_write});
  } catch (const HeapUnavailable& e) {
    fmt::print(stderr, "goscope heap: {}\n", e.what());
    return 3;
  }
  RunControl run(target.pid, duration);
  heap->Start(sites);
  fmt::print(stderr, "goscope heap: {} probes live on pid {} ({}); {} mode{}{}{}\n", heap->probes(), target.pid,
             bin.go_version(), mode_name,
             mode == AllocMode::kSampled ? " (Go's own sampler, its records read from memory)" : "",
             heap->RateNote(), duration > 0 ? fmt::format(" for {}s", duration) : std::string(" until Ctrl-C"));
  while (run.Wait(100)) heap->Poll();
  heap->Stop();
  fmt::print(stderr, "goscope heap: stopped: {}{}\n", run.why(), heap->probes() ? "; probes detached" : "");
  fmt::print(stderr, "goscope heap: {}\n", heap->Outcome());

  auto records = heap->Records();
  HeapProfileInfo info = heap->Info();
  FrameLookup symbolize = heap->Symbolizer();
  BuildHeapProfile(records, info, symbolize).WriteFile(out);
  if (args.folded)
    WriteFileAtomically(*args.folded, FoldedHeapStacks(records, info, folded_value, symbolize));
  fmt::print("{}", Summarize(records, info, symbolize));
  fmt::print(stderr, "goscope heap: wrote {}{}\n", out,
             args.folded ? fmt::format(" and {}", *args.folded) : std::string());
  if (heap->restore_failed()) {
    fmt::print(stderr, "goscope heap: ERROR: {}\n", heap->restore_message());
    return 1;
  }
  return 0;
}

}  // namespace

Command AddHeapCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(
      goscope, "heap",
      "heap profile (pprof): what allocates and what stays live, via Go's own sampler or exactly", kDetails);
  auto args = std::make_shared<HeapArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to profile")->required();
  AddDurationOption(*cmd, args->duration, "seconds to profile (default: until Ctrl-C, SIGTERM or the process exits)");
  AddOutputOption(*cmd, args->out, "FILE", "pprof output file")->default_str("heap-PID.pb.gz");
  AddChoiceOption(*cmd, "--alloc-mode", args->alloc_mode, {"sampled", "exact"},
                  "sampled: Go's own sampler; exact: every allocation (below)");
  AddNumberOption(*cmd, "--heap-rate", args->heap_rate, "N", "sampled: MemProfileRate to set when the program's is 0")
      ->check(NumberInRange(1, LLONG_MAX, "must be positive"));
  AddNoWriteFlag(*cmd, args->no_write, "sampled: never write to the target (fails when its MemProfileRate is 0)");
  cmd->add_option("--folded", args->folded, "also write folded stacks (flame graph input) to FILE")->type_name("FILE");
  AddChoiceOption(*cmd, "--folded-value", args->folded_value,
                  {"alloc_space", "alloc_objects", "inuse_space", "inuse_objects"}, "value of the folded stacks");
  return {cmd, [args] { return RunHeap(*args); }};
}

}  // namespace goscope
