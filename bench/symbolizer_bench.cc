// Symbolizer benchmarks (Google Benchmark): what it costs to open a Go binary and
// to turn PCs into frames once it is open.
//
//   GOSCOPE_BENCH_BINARY=/path/to/go-binary build/bench/goscope_bench_symbolizer
//       [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
//   GOSCOPE_BENCH_DWARF_BINARY=/path/with/dwarf   (optional; default: GOSCOPE_BENCH_BINARY)
//   GOSCOPE_BENCH_PCS=100000                      (optional; size of the random PC sets)
//   GOSCOPE_BENCH_DUMP_PCS=DIR   writes the PC sets as hex lines to DIR/*.txt and exits
//                                (scripts/bench-symbolizer.sh feeds them to both tools)
//
// Benchmarks (all wall-clock time):
//   BM_Open                 GoBinary::Open (destruction not timed), page cache warm. Counters,
//                           from one extra open before timing: rss_delta_MiB (VmRSS after
//                           open - before, the binary still open), anon_delta_MiB (RssAnon:
//                           heap the parse allocated), file_delta_MiB (RssFile: mapped pages
//                           of the binary touched), peak_delta_MiB (VmHWM after resetting it
//                           through /proc/self/clear_refs, minus VmRSS before), funcs.
//   BM_OpenColdCache        Same, on a copy of the target in $TMPDIR evicted from the page
//                           cache (posix_fadvise DONTNEED) before each iteration. In a VM
//                           the host may still cache the file: this is the guest's cold.
//   BM_FindFunc             Pclntab::FindFunc only, over the random PC set.
//   BM_Symbolize/random     GoBinary::Symbolize over a fixed random set of PCs (seed 42):
//                           a function chosen uniformly, an offset uniform inside it.
//   BM_Symbolize/uniform_text  PCs uniform over the functions' bytes, so a function is
//                           picked in proportion to its size (a flat sampling profile).
//   BM_Symbolize/hot1024    The first 1024 random PCs, over and over (cache-resident, as
//                           when a profile keeps hitting the same PCs).
//   BM_Symbolize/worst      The last byte of the largest function, over and over (labelled
//                           with its name): the latency bound of the linear table decoding.
//   BM_SymbolizeReturnAddr/by_func      Symbolize(ret - 1) for return addresses (the byte
//                           after a CALL, found by decoding every function): a function
//                           with calls chosen uniformly, then one of its calls.
//   BM_SymbolizeReturnAddr/by_callsite  Same, a call site chosen uniformly over the binary
//                           (dominated by huge generated init functions).
//   BM_ReadDwarfLayout      ReadDwarfLayout(path), a full libdw pass each call; counter
//                           first_call_ms is the very first call in the process. Only
//                           registered when the DWARF binary has DWARF.
// items_per_second on the Symbolize/FindFunc benchmarks is PCs per second; their counters
// mean_func_bytes / mean_pc_offset (size of the PC's function, PC - entry) explain why the
// PC sets differ: pc-value tables are decoded linearly from the function's entry.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dwarf_layout.h"
#include "go_binary.h"
#include "x86_decoder.h"

namespace goscope {
namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// ---- memory ---------------------------------------------------------------------

struct ProcStatus {
  double rss_kb = 0, hwm_kb = 0, anon_kb = 0, file_kb = 0;
};

ProcStatus ReadStatus() {
  ProcStatus s;
  std::ifstream in("/proc/self/status");
  std::string key;
  double value;
  while (in >> key) {
    if (key == "VmRSS:" && in >> value) s.rss_kb = value;
    else if (key == "VmHWM:" && in >> value) s.hwm_kb = value;
    else if (key == "RssAnon:" && in >> value) s.anon_kb = value;
    else if (key == "RssFile:" && in >> value) s.file_kb = value;
    in.ignore(1 << 20, '\n');
  }
  return s;
}

// Resets VmHWM to the current RSS (Linux >= 4.0). False if not permitted.
bool ResetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok;
}

// Gives freed heap back to the kernel so the next RSS delta starts from a clean base.
void TrimHeap() { malloc_trim(0); }

constexpr double kMiB = 1024.0;  // kB -> MiB

void EvictFromPageCache(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// ---- shared state -----------------------------------------------------------------

const std::string& BinaryPath() {
  static const std::string path = EnvOr("GOSCOPE_BENCH_BINARY", "");
  return path;
}

const GoBinary& Binary() {
  static const std::shared_ptr<const GoBinary> bin = GoBinary::Open(BinaryPath());
  return *bin;
}

size_t PcCount() {
  static const size_t n = std::max<size_t>(1024, std::strtoull(EnvOr("GOSCOPE_BENCH_PCS", "100000").c_str(), nullptr, 10));
  return n;
}

// Functions a PC can fall in (non-empty).
std::vector<const Func*> NonEmptyFuncs(const Pclntab& t) {
  std::vector<const Func*> out;
  for (const Func& f : t.funcs())
    if (f.end > f.entry) out.push_back(&f);
  return out;
}

// Fixed random PCs inside the binary's functions: a function chosen uniformly, then an
// offset uniform within it. Same set for every benchmark and every run (seed 42).
const std::vector<uint64_t>& RandomPcs() {
  static const std::vector<uint64_t> pcs = [] {
    auto funcs = NonEmptyFuncs(Binary().pclntab());
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<size_t> pick(0, funcs.size() - 1);
    std::vector<uint64_t> v(PcCount());
    for (auto& pc : v) {
      const Func* f = funcs[pick(rng)];
      pc = f->entry + std::uniform_int_distribution<uint64_t>(0, f->end - f->entry - 1)(rng);
    }
    return v;
  }();
  return pcs;
}

// Return addresses (the byte after a CALL), from decoding every function with capstone.
// by_func: a function with calls chosen uniformly, then one of its calls (like RandomPcs);
// by_callsite: a call site chosen uniformly over the whole binary, which favours the few
// huge generated init functions that hold tens of thousands of calls each.
struct ReturnAddressSets {
  std::vector<uint64_t> by_func, by_callsite;
};

const ReturnAddressSets& ReturnAddresses() {
  static const ReturnAddressSets sets = [] {
    const GoBinary& bin = Binary();
    std::vector<std::vector<uint64_t>> per_func;
    std::vector<uint64_t> all;
    for (const Func* f : NonEmptyFuncs(bin.pclntab())) {
      Bytes code = bin.elf().at_vaddr(f->entry);
      code = code.subspan(0, std::min<uint64_t>(code.size(), f->end - f->entry));
      std::vector<uint64_t> rets;
      for (const Instruction& in : Decode(code, f->entry))
        if (in.mnemonic == "call") rets.push_back(in.address + in.size);
      if (rets.empty()) continue;
      all.insert(all.end(), rets.begin(), rets.end());
      per_func.push_back(std::move(rets));
    }
    ReturnAddressSets out;
    if (all.empty()) return out;
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<size_t> pick_func(0, per_func.size() - 1), pick_call(0, all.size() - 1);
    for (size_t i = 0; i < PcCount(); i++) {
      const auto& rets = per_func[pick_func(rng)];
      out.by_func.push_back(rets[std::uniform_int_distribution<size_t>(0, rets.size() - 1)(rng)]);
      out.by_callsite.push_back(all[pick_call(rng)]);
    }
    return out;
  }();
  return sets;
}

// ---- benchmarks ---------------------------------------------------------------------

// One open outside the timed loop, to read what it costs in memory.
void ReportOpenMemory(benchmark::State& state, const std::string& path) {
  TrimHeap();
  bool peak_ok = ResetPeakRss();
  ProcStatus before = ReadStatus();
  auto bin = GoBinary::Open(path);
  ProcStatus after = ReadStatus();
  state.counters["rss_delta_MiB"] = (after.rss_kb - before.rss_kb) / kMiB;
  state.counters["anon_delta_MiB"] = (after.anon_kb - before.anon_kb) / kMiB;
  state.counters["file_delta_MiB"] = (after.file_kb - before.file_kb) / kMiB;
  if (peak_ok) state.counters["peak_delta_MiB"] = (after.hwm_kb - before.rss_kb) / kMiB;
  state.counters["funcs"] = static_cast<double>(bin->pclntab().funcs().size());
  state.counters["file_MiB"] = static_cast<double>(bin->elf().bytes().size()) / (1024.0 * 1024.0);
}

void BM_Open(benchmark::State& state) {
  const std::string& path = BinaryPath();
  GoBinary::Open(path);  // warm the page cache
  ReportOpenMemory(state, path);
  for (auto _ : state) {
    auto bin = GoBinary::Open(path);
    benchmark::DoNotOptimize(bin.get());
    state.PauseTiming();  // destruction (munmap, frees) is not part of opening
    bin.reset();
    state.ResumeTiming();
  }
}

// A private copy of the target for BM_OpenColdCache: pages of a file that is mapped
// (Binary() keeps the target open) cannot be evicted. Removed at exit.
const std::string& ColdCopyPath() {
  static const std::string path = [] {
    std::string tmpl = EnvOr("TMPDIR", "/tmp") + "/goscope-bench-cold-XXXXXX";
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return std::string();
    Bytes b = Binary().elf().bytes();
    bool ok = true;
    for (size_t off = 0; ok && off < b.size();) {
      ssize_t n = write(fd, b.data() + off, b.size() - off);
      ok = n > 0;
      off += ok ? static_cast<size_t>(n) : 0;
    }
    ok = fsync(fd) == 0 && ok;  // written back, so the eviction can drop every page
    close(fd);
    if (!ok) {
      unlink(tmpl.c_str());
      return std::string();
    }
    static const std::string* to_remove = new std::string(tmpl);  // outlives static destructors
    std::atexit([] { unlink(to_remove->c_str()); });
    return tmpl;
  }();
  return path;
}

void BM_OpenColdCache(benchmark::State& state) {
  const std::string& path = ColdCopyPath();
  if (path.empty()) {
    state.SkipWithError("could not copy the target to $TMPDIR");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    EvictFromPageCache(path);
    state.ResumeTiming();
    auto bin = GoBinary::Open(path);
    benchmark::DoNotOptimize(bin.get());
    state.PauseTiming();
    bin.reset();
    state.ResumeTiming();
  }
}

void BM_FindFunc(benchmark::State& state) {
  const Pclntab& tab = Binary().pclntab();
  const auto& pcs = RandomPcs();
  size_t i = 0, misses = 0;
  for (auto _ : state) {
    const Func* f = tab.FindFunc(pcs[i]);
    benchmark::DoNotOptimize(f);
    misses += f == nullptr;
    if (++i == pcs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["misses"] = static_cast<double>(misses);
}

// Symbolizes pcs[k] - adjust, round-robin; reports frames per PC and how many had none.
void SymbolizeLoop(benchmark::State& state, const std::vector<uint64_t>& pcs, uint64_t adjust) {
  const GoBinary& bin = Binary();
  if (pcs.empty()) {
    state.SkipWithError("no PCs to symbolize");
    return;
  }
  // How far into its function each PC lies: pc-value tables are decoded from the
  // function's entry up to the PC, so this is what the lookups cost grows with.
  double func_bytes = 0, offset_bytes = 0;
  for (uint64_t pc : pcs) {
    if (const Func* f = bin.pclntab().FindFunc(pc - adjust)) {
      func_bytes += static_cast<double>(f->end - f->entry);
      offset_bytes += static_cast<double>(pc - adjust - f->entry);
    }
  }
  state.counters["mean_func_bytes"] = func_bytes / pcs.size();
  state.counters["mean_pc_offset"] = offset_bytes / pcs.size();
  size_t i = 0, frames = 0, inlined = 0, empty = 0;
  for (auto _ : state) {
    auto fr = bin.Symbolize(pcs[i] - adjust);
    frames += fr.size();
    inlined += fr.size() > 1;
    empty += fr.empty();
    benchmark::DoNotOptimize(fr.data());
    if (++i == pcs.size()) i = 0;
  }
  double n = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["frames_per_pc"] = frames / n;
  state.counters["inlined_frac"] = inlined / n;
  state.counters["unknown_frac"] = empty / n;
  state.counters["distinct_pcs"] = static_cast<double>(pcs.size());
}

void BM_SymbolizeRandom(benchmark::State& state) { SymbolizeLoop(state, RandomPcs(), 0); }

// PCs uniform over the bytes of the functions (as a flat CPU-sampling profile would hit
// them): big functions are picked in proportion to their size.
const std::vector<uint64_t>& UniformTextPcs() {
  static const std::vector<uint64_t> pcs = [] {
    auto funcs = NonEmptyFuncs(Binary().pclntab());
    std::vector<uint64_t> cum;  // cumulative sizes
    uint64_t total = 0;
    for (const Func* f : funcs) cum.push_back(total += f->end - f->entry);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<uint64_t> pick(0, total - 1);
    std::vector<uint64_t> v(PcCount());
    for (auto& pc : v) {
      uint64_t x = pick(rng);
      size_t k = std::upper_bound(cum.begin(), cum.end(), x) - cum.begin();
      pc = funcs[k]->end - (cum[k] - x);
    }
    return v;
  }();
  return pcs;
}

void BM_SymbolizeUniformText(benchmark::State& state) { SymbolizeLoop(state, UniformTextPcs(), 0); }

// The last byte of the largest function: every pc-value table is decoded to its end.
void BM_SymbolizeWorst(benchmark::State& state) {
  auto funcs = NonEmptyFuncs(Binary().pclntab());
  const Func* big = *std::max_element(funcs.begin(), funcs.end(), [](const Func* a, const Func* b) {
    return a->end - a->entry < b->end - b->entry;
  });
  state.SetLabel(std::string(big->name));
  SymbolizeLoop(state, {big->end - 1}, 0);
}

void BM_SymbolizeHot(benchmark::State& state) {
  static const std::vector<uint64_t> hot(RandomPcs().begin(), RandomPcs().begin() + 1024);
  SymbolizeLoop(state, hot, 0);
}

void BM_SymbolizeReturnAddrByFunc(benchmark::State& state) { SymbolizeLoop(state, ReturnAddresses().by_func, 1); }
void BM_SymbolizeReturnAddrByCallsite(benchmark::State& state) {
  SymbolizeLoop(state, ReturnAddresses().by_callsite, 1);
}

void BM_ReadDwarfLayout(benchmark::State& state, const std::string& path, double first_call_ms) {
  TrimHeap();
  bool peak_ok = ResetPeakRss();
  ProcStatus before = ReadStatus();
  size_t items = 0;
  for (auto _ : state) {
    RuntimeLayout layout = ReadDwarfLayout(path);
    items = layout.values.size();
    benchmark::DoNotOptimize(layout.values.size());
  }
  ProcStatus after = ReadStatus();
  if (peak_ok) state.counters["peak_delta_MiB"] = (after.hwm_kb - before.rss_kb) / kMiB;
  state.counters["items"] = static_cast<double>(items);
  state.counters["first_call_ms"] = first_call_ms;
}

}  // namespace
}  // namespace goscope

int main(int argc, char** argv) {
  using namespace goscope;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (BinaryPath().empty()) {
    std::fprintf(stderr, "set GOSCOPE_BENCH_BINARY to a Go executable (scripts/bench-symbolizer.sh finds one)\n");
    return 2;
  }
  std::string dwarf_path = EnvOr("GOSCOPE_BENCH_DWARF_BINARY", BinaryPath());
  try {
    const GoBinary& bin = Binary();
    std::fprintf(stderr, "target: %s (%s, %zu functions, %.1f MiB)\n", bin.path().c_str(),
                 bin.go_version().c_str(), bin.pclntab().funcs().size(),
                 static_cast<double>(bin.elf().bytes().size()) / (1024.0 * 1024.0));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }

  // The same PC sets, for the side-by-side run with `go tool addr2line`: written as hex
  // lines (return addresses already minus 1) to DIR/{random,uniform_text,ret_by_func}.txt,
  // and facts about the binary to DIR/meta.env.
  if (std::string dir = EnvOr("GOSCOPE_BENCH_DUMP_PCS", ""); !dir.empty()) {
    auto dump = [&](const char* name, const std::vector<uint64_t>& pcs, uint64_t adjust) {
      std::string file = dir + "/" + name + ".txt";
      std::FILE* f = std::fopen(file.c_str(), "w");
      if (!f) {
        std::perror(file.c_str());
        std::exit(2);
      }
      for (uint64_t pc : pcs) std::fprintf(f, "%#llx\n", static_cast<unsigned long long>(pc - adjust));
      std::fclose(f);
    };
    dump("random", RandomPcs(), 0);
    dump("uniform_text", UniformTextPcs(), 0);
    dump("ret_by_func", ReturnAddresses().by_func, 1);
    // What the script needs to explain addr2line's answers: it takes .text's start for
    // runtime.text, which differs in externally linked binaries (C code comes first).
    const GoBinary& bin = Binary();
    const ElfSection* text = bin.elf().section(".text");
    std::string file = dir + "/meta.env";
    if (std::FILE* f = std::fopen(file.c_str(), "w")) {
      std::fprintf(f, "GO_VERSION=%s\nFUNCS=%zu\nRUNTIME_TEXT=%#llx\nTEXT_SECTION=%#llx\n", bin.go_version().c_str(),
                   bin.pclntab().funcs().size(), static_cast<unsigned long long>(bin.pclntab().text_start()),
                   static_cast<unsigned long long>(text ? text->addr : 0));
      std::fclose(f);
    }
    return 0;
  }

  benchmark::RegisterBenchmark("BM_Open", BM_Open)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_OpenColdCache", BM_OpenColdCache)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_FindFunc", BM_FindFunc)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Symbolize/random", BM_SymbolizeRandom)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Symbolize/uniform_text", BM_SymbolizeUniformText)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Symbolize/hot1024", BM_SymbolizeHot)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Symbolize/worst", BM_SymbolizeWorst)->UseRealTime();
  benchmark::RegisterBenchmark("BM_SymbolizeReturnAddr/by_func", BM_SymbolizeReturnAddrByFunc)->UseRealTime();
  benchmark::RegisterBenchmark("BM_SymbolizeReturnAddr/by_callsite", BM_SymbolizeReturnAddrByCallsite)->UseRealTime();

  bool dwarf = false;
  try {
    dwarf = GoBinary::Open(dwarf_path)->has_dwarf();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
  }
  if (dwarf) {
    auto t0 = std::chrono::steady_clock::now();
    RuntimeLayout first = ReadDwarfLayout(dwarf_path);
    double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(first.values.size());
    benchmark::RegisterBenchmark("BM_ReadDwarfLayout", BM_ReadDwarfLayout, dwarf_path, first_ms)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  } else {
    std::fprintf(stderr, "%s has no DWARF: BM_ReadDwarfLayout not run (set GOSCOPE_BENCH_DWARF_BINARY)\n",
                 dwarf_path.c_str());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
