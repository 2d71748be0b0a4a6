// goscope's reading of a process's runtime statistics against the runtime's
// own account: statsprog changes its heap and goroutines in known steps and
// prints runtime.ReadMemStats, NumGoroutine and its thread count after each;
// goscope reads the same process's memory at that moment. Every toolchain,
// plain and stripped. Also the CLI (text, JSON, --watch) and its refusals.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "child.h"
#include "error.h"
#include "heap_test_util.h"
#include "process/process_memory.h"
#include "process/runtime_stats_reader.h"
#include "process/target_process.h"
#include "prometheus_server.h"
#include "runtime_variables.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::Child;
using testing::ChildOptions;
using testing::Io;

// "stats step=1 Alloc=123 ... Pauses=1,2,3" -> {"step": "1", "Alloc": "123", ...}
std::map<std::string, std::string> ParseStatsLine(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  for (std::string word; in >> word;) {
    auto eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

std::vector<uint64_t> SplitPauses(const std::string& s) {
  std::vector<uint64_t> out;
  std::istringstream in(s);
  for (std::string p; std::getline(in, p, ',');) out.push_back(std::stoull(p));
  return out;
}

// Counts and the GC's records must be exact; byte figures within 1% or 64 KiB
// (the issue's bound; a quiet process gives them exactly).
void ExpectAgrees(const RuntimeStats& got, const std::map<std::string, std::string>& want) {
  for (const StatInfo& info : RuntimeStatInfo()) {
    SCOPED_TRACE(std::string(info.name));
    auto it = want.find(std::string(info.name));
    ASSERT_NE(it, want.end()) << "statsprog does not print it";
    ASSERT_TRUE(got[info.stat].has_value()) << "absent: " << got.absent.count(std::string(info.name));
    const uint64_t w = std::stoull(it->second), g = *got[info.stat];
    if (info.unit == StatUnit::kBytes) {
      const double tolerance = std::max(64.0 * 1024, 0.01 * static_cast<double>(w));
      EXPECT_LE(std::fabs(static_cast<double>(g) - static_cast<double>(w)), tolerance) << "got " << g << " want " << w;
    } else {
      EXPECT_EQ(g, w);
    }
  }
  ASSERT_TRUE(got.gc_cpu_fraction.has_value());
  EXPECT_DOUBLE_EQ(*got.gc_cpu_fraction, std::stod(want.at("GCCPUFraction")));
  auto pauses = SplitPauses(want.at("Pauses"));
  ASSERT_GE(got.recent_pauses_ns.size(), pauses.size());
  for (size_t i = 0; i < pauses.size(); i++) EXPECT_EQ(got.recent_pauses_ns[i], pauses[i]) << "pause " << i;
  EXPECT_TRUE(got.absent.empty()) << got.absent.begin()->first << ": " << got.absent.begin()->second;
}

// statsprog's last allocations can come just after its line (on its way to
// park in the next read of its input), so read once the heap stops changing.
RuntimeStats ReadWhenQuiet(const TargetProcess& target, const RuntimeLayout& layout, const ProcessMemory& mem) {
  RuntimeStats prev = ReadRuntimeStats(target, layout, mem);
  for (int i = 0; i < 40; i++) {
    usleep(25000);
    RuntimeStats cur = ReadRuntimeStats(target, layout, mem);
    if (cur[Stat::kMallocs] == prev[Stat::kMallocs] && cur[Stat::kThreads] == prev[Stat::kThreads]) return cur;
    prev = std::move(cur);
  }
  return prev;
}

// statsprog's line for a step, and goscope's reading once the process is
// quiet. The program can still allocate after its line (runtime background
// work; seen once in a while under ctest -j2 load: one object); goscope then
// reads the truth of a later moment, so the program is asked to report
// again, once, and that report is the one compared.
std::pair<RuntimeStats, std::map<std::string, std::string>> ReadStep(Child& prog, int step,
                                                                       const TargetProcess& target,
                                                                       const RuntimeLayout& layout,
                                                                       const ProcessMemory& mem) {
  const std::string tag = "stats step=" + std::to_string(step) + " ";
  auto line = prog.WaitForLine(testing::kStdout, tag, 30000);
  if (!line) return {};
  auto want = ParseStatsLine(*line);
  RuntimeStats got = ReadWhenQuiet(target, layout, mem);
  if (got[Stat::kMallocs] != std::stoull(want.at("Mallocs")) && prog.WriteLine("report")) {
    if (auto again = prog.WaitForLine(testing::kStdout, tag, 30000)) {
      want = ParseStatsLine(*again);
      got = ReadWhenQuiet(target, layout, mem);
    }
  }
  return {std::move(got), std::move(want)};
}

// One step of statsprog, read by goscope once the process is quiet.
struct StatsStep {
  const testing::TestBinary& binary;
  int step;
  const RuntimeStats& got;
  const std::map<std::string, std::string>& want;  // statsprog's own line
  const TargetProcess& target;
  const RuntimeLayout& layout;
  const ProcessMemory& mem;
};

// Runs statsprog of every toolchain, plain and stripped, through steps 0-4
// and calls check at each; returns how many steps were checked.
int ForEveryStatsStep(const std::function<void(const StatsStep&)>& check) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "statsprog") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child prog({b.path}, ChildOptions{.in = Io::kPipe});
    TargetProcess target = TargetProcess::Find(prog.pid());
    const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
    ProcessMemory mem(prog.pid());
    for (int step = 0; step <= 4; step++) {
      SCOPED_TRACE("step " + std::to_string(step));
      if (step > 0 && !prog.WriteLine("next")) {
        ADD_FAILURE() << "statsprog stopped reading: " << prog.err();
        break;
      }
      auto [got, want] = ReadStep(prog, step, target, layout, mem);
      if (want.empty()) {
        ADD_FAILURE() << "no line from statsprog: " << prog.err();
        break;
      }
      check({b, step, got, want, target, layout, mem});
      checked++;
    }
  }
  return checked;
}

TEST(RuntimeStats, EqualsTheProgramsOwnReadMemStatsAtEveryStep) {
  int checked = ForEveryStatsStep([](const StatsStep& s) { ExpectAgrees(s.got, s.want); });
  EXPECT_GE(checked, 5 * 2 * 8) << "statsprog plain and stripped from every toolchain";
}

// Goroutines created and existing, from the goroutine ids: equal to the
// runtime's own count of creations from 1.26 (runtime/metrics), and on every
// release, from step to step, what statsprog's steps do (step 1 parks 300,
// step 2 500 more, step 3 lets all 800 return, step 4 parks 400; the runtime
// starts none of its own meanwhile: the GC's workers exist from step 0).
TEST(RuntimeStats, GoroutineCountsFollowTheProgramsOwn) {
  const int64_t created_by_step[] = {0, 300, 500, 0, 400};
  const int64_t change_by_step[] = {0, 300, 500, -800, 400};
  int against_metrics = 0;
  GoroutineCounts prev;
  int checked = ForEveryStatsStep([&](const StatsStep& s) {
    const GoroutineCounts c = ReadGoroutineCounts(s.target, s.layout, s.mem);
    // NumGoroutine leaves the system goroutines out; they exist too.
    EXPECT_GT(c.existing, std::stoull(s.want.at("NumGoroutine")));
    if (auto it = s.want.find("GoroutinesCreated"); it != s.want.end()) {
      EXPECT_EQ(c.created, std::stoull(it->second));
      against_metrics++;
    }
    if (s.step > 0) {
      EXPECT_EQ(static_cast<int64_t>(c.created - prev.created), created_by_step[s.step]);
      EXPECT_EQ(static_cast<int64_t>(c.existing) - static_cast<int64_t>(prev.existing), change_by_step[s.step]);
    }
    prev = c;
  });
  EXPECT_GE(checked, 5 * 2 * 8) << "statsprog plain and stripped from every toolchain";
  EXPECT_GE(against_metrics, 5 * 2 * 2) << "go1.26 and go1.27 report /sched/goroutines-created";
}

// Under a memory limit the next goal comes from the limit when that is the
// smaller (20 MiB over a ~9 MiB heap: between the heap marked and GOGC's
// goal, with 1.19's fixed headroom and 1.21+'s 3%), else from GOGC (1 GiB):
// both as the runtime computes them, on the oldest and newest release.
TEST(RuntimeStats, NextGCUnderAMemoryLimit) {
  const auto bins = testing::LoadTestBinaries();
  for (const char* limit : {"20MiB", "1GiB"}) {
    for (const testing::TestBinary* b :
         {testing::OldestBuild(bins, "statsprog", "plain"), testing::NewestBuild(bins, "statsprog", "stripped")}) {
      ASSERT_TRUE(b);
      SCOPED_TRACE(testing::TestBinaryLabel(*b) + " GOMEMLIMIT=" + limit);
      Child prog({b->path}, ChildOptions{.in = Io::kPipe, .add_env = {std::string("GOMEMLIMIT=") + limit}});
      TargetProcess target = TargetProcess::Find(prog.pid());
      const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
      ProcessMemory mem(prog.pid());
      ASSERT_TRUE(prog.WriteLine("next"));  // step 1: ~9 MiB kept
      auto [got, want] = ReadStep(prog, 1, target, layout, mem);
      ASSERT_FALSE(want.empty()) << prog.err();
      ExpectAgrees(got, want);
    }
  }
}

TEST(RuntimeStats, TheStepsChangeWhatTheySay) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "statsprog", "stripped");
  ASSERT_TRUE(b);
  Child prog({b->path}, ChildOptions{.in = Io::kPipe});
  TargetProcess target = TargetProcess::Find(prog.pid());
  const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  ProcessMemory mem(prog.pid());
  std::vector<RuntimeStats> at;
  for (int step = 0; step <= 3; step++) {
    if (step > 0) {
      ASSERT_TRUE(prog.WriteLine("next"));
    }
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "stats step=" + std::to_string(step) + " ", 30000));
    at.push_back(ReadRuntimeStats(target, layout, mem));
  }
  auto v = [&](int step, Stat s) { return static_cast<int64_t>(*at[step][s]); };
  // Step 1: 4096 x 1 KiB + 64 x 64 KiB kept (8 MiB), 300 goroutines parked.
  EXPECT_GE(v(1, Stat::kHeapAlloc) - v(0, Stat::kHeapAlloc), 8 << 20);
  EXPECT_GE(v(1, Stat::kHeapObjects) - v(0, Stat::kHeapObjects), 4096 + 64);
  EXPECT_EQ(v(1, Stat::kGoroutines), 301);
  // Step 2: half of it dropped, 500 more goroutines.
  EXPECT_LE(v(2, Stat::kHeapAlloc), v(1, Stat::kHeapAlloc) - (4 << 20) + (1 << 20));
  EXPECT_EQ(v(2, Stat::kGoroutines), 801);
  EXPECT_GT(v(2, Stat::kStackInuse), v(0, Stat::kStackInuse));
  // Step 3: all of it gone.
  EXPECT_EQ(v(3, Stat::kGoroutines), 1);
  EXPECT_LT(v(3, Stat::kHeapAlloc), v(1, Stat::kHeapAlloc) - (7 << 20));
  for (int step = 1; step <= 3; step++) {
    EXPECT_GT(v(step, Stat::kNumGC), v(step - 1, Stat::kNumGC));
    EXPECT_GE(v(step, Stat::kTotalAlloc), v(step - 1, Stat::kTotalAlloc));
  }
}

TEST(RuntimeStats, CliTextJsonAndWatch) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "statsprog", "stripped");
  ASSERT_TRUE(b);
  Child prog({b->path}, ChildOptions{.in = Io::kPipe});
  TargetProcess target = TargetProcess::Find(prog.pid());
  auto [got, want] = ReadStep(prog, 0, target, ResolveRuntimeLayout(*target.binary), ProcessMemory(prog.pid()));
  ASSERT_FALSE(want.empty()) << prog.err();
  const std::string goscope = heaptest::GoscopeBinary();
  const std::string pid = std::to_string(prog.pid());

  Child text({goscope, "stats", "-p", pid});
  ASSERT_EQ(text.Wait(), 0) << text.err();
  EXPECT_NE(text.out().find("HeapObjects"), std::string::npos);
  EXPECT_NE(text.out().find("(" + want.at("HeapAlloc") + ")"), std::string::npos) << text.out();

  Child json({goscope, "stats", "-p", pid, "--json"});
  ASSERT_EQ(json.Wait(), 0) << json.err();
  auto doc = nlohmann::json::parse(json.out());
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["pid"], prog.pid());
  EXPECT_EQ(doc["stats"]["HeapObjects"].get<uint64_t>(), std::stoull(want.at("HeapObjects")));
  EXPECT_EQ(doc["stats"]["NumGoroutine"].get<uint64_t>(), 1u);
  EXPECT_TRUE(doc["absent"].empty());

  // --watch: a line per reading, the change in goroutines shows, and it ends
  // (status 0) when the process exits.
  Child watch({goscope, "stats", "-p", pid, "--watch", "1"});
  ASSERT_TRUE(watch.WaitForLine(testing::kStdout, "HeapAlloc", 10000)) << watch.err();  // the header
  ASSERT_TRUE(watch.NextLine(testing::kStdout, 10000));                                  // the first reading
  ASSERT_TRUE(prog.WriteLine("next"));
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "stats step=1 ", 30000));
  auto grown = watch.FindLine(testing::kStdout, 10000, [](std::string_view l) { return l.find("+300") != l.npos; });
  EXPECT_TRUE(grown) << watch.out();
  prog.CloseStdin();  // statsprog returns at the end of its input
  EXPECT_EQ(watch.Wait(15000), 0) << watch.err();
  EXPECT_NE(watch.err().find("exited"), std::string::npos) << watch.err();
}

// The agent's /metrics, scraped by a real Prometheus, carry the same figures
// under client_golang's names: a plain go1.19 and a stripped newest build.
TEST(RuntimeStats, TheAgentsMetricsScrapedByPrometheusEqualTheProgramsOwn) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  using namespace std::chrono_literals;
  const auto bins = testing::LoadTestBinaries();
  for (const testing::TestBinary* b :
       {testing::NewestBuild(bins, "statsprog", "stripped"), testing::OldestBuild(bins, "statsprog", "plain")}) {
    ASSERT_TRUE(b);
    SCOPED_TRACE(testing::TestBinaryLabel(*b));
    Child prog({b->path}, ChildOptions{.in = Io::kPipe});
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "stats step=0 ", 30000));
    heaptest::TempDir dir;
    const std::string config = dir.path() + "/agent.json";
    std::ofstream(config) << R"({"include": [{"exe": ")" << b->path << R"("}], "runtime_stats": {"interval_seconds": 1}})";
    Child agent({heaptest::GoscopeBinary(), "agent", "--listen", "127.0.0.1:0", "--config", config, "--no-write"});
    auto listening = agent.WaitFor(1, "listening on 127.0.0.1:", 30000);
    ASSERT_TRUE(listening) << agent.err();
    testing::PrometheusServer prom({.target = "127.0.0.1:" + listening->substr(listening->rfind(':') + 1)});

    // Step 1 moves every figure; then the program is quiet.
    ASSERT_TRUE(prog.WriteLine("next"));
    TargetProcess target = TargetProcess::Find(prog.pid());
    auto [got, want] = ReadStep(prog, 1, target, ResolveRuntimeLayout(*target.binary), ProcessMemory(prog.pid()));
    ASSERT_FALSE(want.empty()) << prog.err();
    const std::string sel = "{pid=\"" + std::to_string(prog.pid()) + "\"}";
    auto value = [&](const std::string& metric) -> std::optional<double> {
      auto r = prom.Query(metric + sel).at("result");
      if (r.size() != 1) return std::nullopt;
      return testing::PrometheusServer::Value(r[0]);
    };
    const double objects = std::stod(want.at("HeapObjects"));
    auto r = prom.WaitForQuery("goscope_go_memstats_heap_objects" + sel, 30s, [&](const nlohmann::json& res) {
      return testing::PrometheusServer::Value(res[0]) == objects;
    });
    ASSERT_EQ(r.size(), 1u) << agent.err();
    for (const StatInfo& info : RuntimeStatInfo()) {
      if (info.metric.empty()) continue;
      SCOPED_TRACE(std::string(info.metric));
      auto got = value("goscope_" + std::string(info.metric));
      ASSERT_TRUE(got) << "not served";
      double w = std::stod(want.at(std::string(info.name)));
      if (info.unit == StatUnit::kUnixNanoseconds) w /= 1e9;
      if (info.unit == StatUnit::kBytes)
        EXPECT_LE(std::fabs(*got - w), std::max(64.0 * 1024, 0.01 * w)) << *got << " vs " << w;
      else if (info.unit == StatUnit::kUnixNanoseconds)
        EXPECT_NEAR(*got, w, 1e-6 * w);
      else
        EXPECT_EQ(*got, w);
    }
    EXPECT_EQ(value("goscope_go_gc_duration_seconds_count"), std::stod(want.at("NumGC")));
    EXPECT_NEAR(*value("goscope_go_gc_duration_seconds_sum"), std::stod(want.at("PauseTotalNs")) / 1e9, 1e-9);
    EXPECT_DOUBLE_EQ(*value("goscope_go_memstats_gc_cpu_fraction"), std::stod(want.at("GCCPUFraction")));
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.Wait(30000), 0) << agent.err();
  }
}

TEST(RuntimeStats, RefusesWhatItCannotRead) {
  const std::string goscope = heaptest::GoscopeBinary();
  // Not Go.
  Child sleeper({"/bin/sleep", "30"});
  Child not_go({goscope, "stats", "-p", std::to_string(sleeper.pid())});
  EXPECT_EQ(not_go.Wait(), 1);
  EXPECT_NE(not_go.err().find("not a Go"), std::string::npos) << not_go.err();
  // Gone.
  Child gone({goscope, "stats", "-p", "999999999"});
  EXPECT_EQ(gone.Wait(), 1);
  EXPECT_NE(gone.err().find("not found"), std::string::npos) << gone.err();
  // Bad usage.
  Child usage({goscope, "stats", "-p", "1", "--watch", "0"});
  EXPECT_EQ(usage.Wait(), 2);
  // A process that exits between locating it and reading: a clear error, not a crash.
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "statsprog", "plain");
  ASSERT_TRUE(b);
  auto prog = std::make_unique<Child>(std::vector<std::string>{b->path}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog->WaitForLine(testing::kStdout, "stats step=0 ", 30000));
  TargetProcess target = TargetProcess::Find(prog->pid());
  const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  ProcessMemory mem(prog->pid());
  prog.reset();  // SIGKILLed and reaped
  try {
    ReadRuntimeStats(target, layout, mem);
    ADD_FAILURE() << "read a process that is gone";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exited"), std::string::npos) << e.what();
  }
  // A release whose layout goscope does not know: no table, no DWARF (the
  // symbol table still gives addresses, but no offsets).
  Child again({b->path}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(again.WaitForLine(testing::kStdout, "stats step=0 ", 30000));
  TargetProcess t2 = TargetProcess::Find(again.pid());
  ProcessMemory mem2(again.pid());
  RuntimeLayout unknown_stripped;
  for (const auto& [key, v] : ResolveRuntimeLayout(*t2.binary).values)
    if (v.source != Source::kTable && v.source != Source::kDwarf) unknown_stripped.values.emplace(key, v);
  try {
    ReadRuntimeStats(t2, unknown_stripped, mem2);
    ADD_FAILURE() << "read statistics without their layout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot locate the runtime's statistics"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace goscope
