// GC tracing agrees with the runtime's own GODEBUG=gctrace=1 output for the
// same run, on every toolchain, plain and stripped: the same cycles (by
// number), two stop-the-world pauses per cycle, and the same clock times,
// heap sizes and forced flags as gctrace prints them.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "output/gc_report.h"
#include "probes/gc_tracer.h"
#include "probe_sites.h"
#include "runtime_layout.h"
#include "runtime_variables.h"
#include "process/target_process.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using testing::TempDir;

// A child process with stdout and stderr going to files the test polls.
struct Proc : testing::Child {
  Proc(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
       const std::vector<std::string>& env = {})
      : Child(argv, {.out = testing::Io::kFile,
                     .err = testing::Io::kFile,
                     .out_path = out_path,
                     .err_path = err_path,
                     .add_env = env}) {}
};

// Polls path until it contains text (and, if given, calls tick meanwhile).
bool WaitForText(const std::string& path, const std::string& text, std::chrono::milliseconds timeout,
                 const std::function<void()>& tick = nullptr) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (tick) tick();
    if (ReadWholeFile(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

struct GctraceLine {
  uint32_t n = 0;
  std::string at;  // "0.306" (seconds)
  std::string a, b, c;  // clock: STW sweep termination, concurrent mark, STW mark termination (ms)
  uint64_t h0 = 0, h1 = 0, h2 = 0;  // MB
  bool forced = false;
  std::string text;
};

// gctrace lines between gcprog's "gcprog: begin" and "gcprog: end" markers.
std::vector<GctraceLine> GctraceWindow(const std::string& err) {
  static const std::regex re(
      R"(^gc (\d+) @([0-9.]+)s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock, .*? (\d+)->(\d+)->(\d+) MB, .*$)");
  std::vector<GctraceLine> out;
  bool in = false;
  std::stringstream ss(err);
  std::string line;
  while (std::getline(ss, line)) {
    if (line == "gcprog: begin") in = true;
    if (line == "gcprog: end") in = false;
    std::smatch m;
    if (!in || !std::regex_match(line, m, re)) continue;
    GctraceLine g;
    g.n = static_cast<uint32_t>(std::stoul(m[1]));
    g.at = m[2], g.a = m[3], g.b = m[4], g.c = m[5];
    g.h0 = std::stoull(m[6]), g.h1 = std::stoull(m[7]), g.h2 = std::stoull(m[8]);
    g.forced = line.ends_with(" (forced)");
    g.text = line;
    out.push_back(g);
  }
  return out;
}

// Every field gctrace prints that goscope reads must match, as gctrace prints it.
// One known exception: go1.19's gcStart sets work.userForced before it takes
// gcsema, so a runtime.GC() call racing with the end of a heap-triggered
// cycle makes gctrace print that cycle "(forced)" too (fixed in 1.21, which
// sets it under gcsema). goscope reads the flag with the cycle's world still
// stopped and so reports such a cycle as not forced; the next one is.
void ExpectCyclesMatch(const std::vector<GcCycle>& cycles, const std::vector<GctraceLine>& trace, int go_minor) {
  std::map<uint32_t, const GcCycle*> ours;
  for (const auto& c : cycles) {
    EXPECT_TRUE(ours.emplace(c.n, &c).second) << "cycle " << c.n << " reported twice";
  }
  std::map<uint32_t, const GctraceLine*> theirs;
  for (const auto& g : trace) theirs.emplace(g.n, &g);
  std::vector<uint32_t> ours_n, theirs_n;
  for (const auto& [n, c] : ours) ours_n.push_back(n);
  for (const auto& [n, g] : theirs) theirs_n.push_back(n);
  EXPECT_EQ(ours_n, theirs_n) << "cycle numbers differ from gctrace's";
  size_t pauses = 0;
  for (const auto& [n, g] : theirs) {
    auto it = ours.find(n);
    if (it == ours.end()) continue;
    const GcCycle& c = *it->second;
    SCOPED_TRACE(g->text + "\n   goscope: " + GcCycleLine(c));
    ASSERT_EQ(c.pauses.size(), 2u);
    pauses += c.pauses.size();
    EXPECT_FALSE(c.pauses[0].mark_termination);
    EXPECT_TRUE(c.pauses[1].mark_termination);
    EXPECT_EQ(FormatNsAsMs(c.pauses[0].duration_ns), g->a);
    EXPECT_EQ(FormatNsAsMs(c.mark_term_ns - c.mark_ns), g->b);
    EXPECT_EQ(FormatNsAsMs(c.pauses[1].duration_ns), g->c);
    EXPECT_EQ(c.heap_start >> 20, g->h0);
    EXPECT_EQ(c.heap_end >> 20, g->h1);
    EXPECT_EQ(c.heap_marked >> 20, g->h2);
    auto next = ours.find(n + 1);
    bool go119_race = go_minor == 19 && g->forced && !c.forced && next != ours.end() && next->second->forced;
    if (!go119_race) {
      EXPECT_EQ(c.forced, g->forced);
    }
    // gcprog's cycles are started by the heap trigger or by runtime.GC().
    EXPECT_EQ(c.trigger, c.forced ? GcTrigger::kCycle : GcTrigger::kHeap);
    EXPECT_LE(c.pause_total_ns, c.end_ns - c.start_ns);
    if (c.since_start_ns) {
      char at[32];
      uint64_t ms = *c.since_start_ns / 1000000;
      std::snprintf(at, sizeof at, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                    static_cast<unsigned long long>(ms % 1000));
      EXPECT_EQ(at, g->at);
    }
  }
  // Two stop-the-world pauses per cycle, as gctrace's A and C.
  EXPECT_EQ(pauses, 2 * trace.size());
}

TEST(GcReport, FormatNsAsMsLikeGctrace) {
  EXPECT_EQ(FormatNsAsMs(0), "0");
  EXPECT_EQ(FormatNsAsMs(999), "0");
  EXPECT_EQ(FormatNsAsMs(1000), "0.001");
  EXPECT_EQ(FormatNsAsMs(12345), "0.012");
  EXPECT_EQ(FormatNsAsMs(99999), "0.099");
  EXPECT_EQ(FormatNsAsMs(150000), "0.15");
  EXPECT_EQ(FormatNsAsMs(1234567), "1.2");
  EXPECT_EQ(FormatNsAsMs(2000000), "2.0");
  EXPECT_EQ(FormatNsAsMs(9999999), "9.9");
  EXPECT_EQ(FormatNsAsMs(10000000), "10");
  EXPECT_EQ(FormatNsAsMs(15600000), "15");
  EXPECT_EQ(FormatNsAsMs(1234000000), "1234");
}

TEST(GcReport, SummaryQuantilesAndTrace) {
  std::vector<GcCycle> cycles;
  for (uint32_t i = 1; i <= 10; ++i) {
    GcCycle c;
    c.n = i;
    c.start_ns = 1000000 * i;
    c.mark_ns = c.start_ns + i * 1000;  // sweep termination: i us
    c.mark_term_ns = c.mark_ns + 50000;
    c.end_ns = c.mark_term_ns + 100 * i;  // mark termination: 100*i ns
    c.pauses = {{c.start_ns, c.mark_ns - c.start_ns, false}, {c.mark_term_ns, c.end_ns - c.mark_term_ns, true}};
    c.trigger = i % 2 ? GcTrigger::kHeap : GcTrigger::kCycle;
    c.forced = i % 2 == 0;
    cycles.push_back(c);
  }
  nlohmann::json s = GcSummaryJson(cycles);
  EXPECT_EQ(s["gc_cycles"], 10);
  EXPECT_EQ(s["gc_forced_cycles"], 5);
  EXPECT_EQ(s["gc_triggers"]["heap"], 5);
  EXPECT_EQ(s["gc_triggers"]["cycle"], 5);
  const auto& q = s["gc_pause_ns"];
  EXPECT_EQ(q["count"], 20);
  // 20 pauses: 100..1000 ns and 1000..10000 ns; nearest rank.
  EXPECT_EQ(q["p50"], 1000);   // 10th smallest: 100,200,...,1000 (the 10 mark terminations)
  EXPECT_EQ(q["p90"], 8000);   // 18th
  EXPECT_EQ(q["p99"], 10000);  // 20th
  EXPECT_EQ(q["max"], 10000);
  EXPECT_EQ(q["total"], 5500 + 55000);
  ASSERT_EQ(s["gc_cycle_list"].size(), 10u);
  EXPECT_EQ(s["gc_cycle_list"][0]["pauses_ns"], nlohmann::json({1000, 100}));

  std::vector<StwPause> stw = {{cycles[0].start_ns + 10, cycles[0].start_ns + 500, -1, "", 1},  // a GC pause (1.19)
                               {5500000, 5600000, 7, "read mem stats", 1},
                               {cycles[1].start_ns + 1, cycles[1].start_ns + 2, 2, "GC sweep termination", 1}};
  nlohmann::json ev = GcTraceEvents(42, 3, 0, cycles, stw);
  int gc = 0, pauses = 0, other = 0;
  for (const auto& e : ev) {
    if (e["ph"] != "X") continue;
    EXPECT_EQ(e["pid"], 42);
    EXPECT_EQ(e["tid"], 3);
    std::string name = e["name"];
    if (name.starts_with("GC ")) {
      gc++;
    } else if (name.starts_with("STW sweep") || name.starts_with("STW mark")) {
      pauses++;
    } else {
      other++;
      EXPECT_EQ(name, "STW read mem stats");
    }
  }
  EXPECT_EQ(gc, 10);
  EXPECT_EQ(pauses, 20);
  EXPECT_EQ(other, 1);
}

// runtime.work found by disassembly is the variable DWARF names, in every
// binary that has DWARF; and it is found in the stripped ones too.
TEST(GcTracer, RuntimeWorkByDisassembly) {
  int checked = 0, stripped = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    RuntimeLayout layout = ResolveRuntimeLayout(*bin);
    Sourced work = FindVariablesByDisassembly(*bin, layout).get("runtime.work");
    ASSERT_TRUE(work.known());
    std::optional<uint64_t> found = work.value;
    Sourced named = layout.get("runtime.work");
    ASSERT_TRUE(named.known());
    if (bin->has_dwarf() || bin->has_symtab()) {
      EXPECT_NE(named.source, Source::kDisassembly);
      EXPECT_EQ(*found, named.value);
      checked++;
    } else {
      EXPECT_EQ(named.source, Source::kDisassembly);  // nothing else could name it
      stripped++;
    }
  }
  EXPECT_GE(checked, 5);
  EXPECT_GE(stripped, 5);
}

struct RunResult {
  std::vector<GcCycle> cycles;
  std::vector<StwPause> stw;
  std::vector<GctraceLine> trace;
  uint64_t lost = 0;
  std::string work_source;
};

// Starts gcprog with gctrace on, attaches, runs one workload, and returns both sides.
void TraceOneWorkload(const testing::TestBinary& b, RunResult* r) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string out = dir.path() + "/out", err = dir.path() + "/err";
  Proc prog({b.path}, out, err, {"GODEBUG=gctrace=1"});
  ASSERT_TRUE(WaitForText(out, "ready", std::chrono::seconds(10))) << ReadWholeFile(err);

  TargetProcess target = TargetProcess::Find(prog.pid());
  RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  GcTracer tracer(target, layout);
  tracer.Attach(FindProbeSites(*target.binary));
  EXPECT_EQ(tracer.probes(), 3u);
  r->work_source = tracer.work_source();
  auto on_cycle = [&](const GcCycle& c) { r->cycles.push_back(c); };
  auto on_stw = [&](const StwPause& p) { r->stw.push_back(p); };
  prog.Signal(SIGUSR1);
  bool done = WaitForText(out, "done", std::chrono::seconds(60), [&] { tracer.Drain(on_cycle, on_stw); });
  tracer.Drain(on_cycle, on_stw);
  tracer.Detach();
  tracer.Drain(on_cycle, on_stw);
  r->lost = tracer.lost();
  prog.Kill(SIGKILL);
  ASSERT_TRUE(done) << "gcprog did not finish its workload:\n" << ReadWholeFile(err);
  r->trace = GctraceWindow(ReadWholeFile(err));
}

TEST(GcTracer, CyclesAndPausesMatchGctrace) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  int runs = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "gcprog" || (b.variant != "plain" && b.variant != "stripped")) continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    RunResult r;
    TraceOneWorkload(b, &r);
    if (HasFatalFailure()) return;
    EXPECT_EQ(r.lost, 0u);
    EXPECT_EQ(r.work_source, b.variant == "stripped" ? "disassembly" : "dwarf");
    // 192 MiB with ~8 MiB live gives well over ten cycles; four are forced.
    EXPECT_GE(r.trace.size(), 10u);
    EXPECT_EQ(std::count_if(r.cycles.begin(), r.cycles.end(), [](const GcCycle& c) { return c.forced; }), 4);
    EXPECT_EQ(r.cycles.size(), r.trace.size());
    ExpectCyclesMatch(r.cycles, r.trace, GoMinorVersion(b.go_version));
    // The probes see both pauses of every cycle too: each stop-the-world
    // probe hit lies inside the runtime's own interval for that pause
    // (tSweepTerm and tMarkTerm are read just before the world is stopped;
    // the runtime reads tEnd just before it calls startTheWorldWithSema, so
    // only the start is bracketed).
    size_t inside = 0;
    for (const auto& c : r.cycles)
      for (const auto& p : c.pauses)
        for (const auto& s : r.stw)
          if (s.start_ns >= p.start_ns && s.start_ns <= p.start_ns + p.duration_ns) inside++;
    EXPECT_EQ(inside, 2 * r.cycles.size());
    runs++;
  }
  EXPECT_GE(runs, 10);
}

// The CLI end to end: goscope gc --json and --timeline on a stripped binary.
TEST(GcTracer, CliJsonAndTimeline) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const testing::TestBinary* bin = nullptr;
  auto all = testing::LoadTestBinaries();
  for (const auto& b : all)
    if (b.name == "gcprog" && b.variant == "stripped") bin = &b;  // the newest toolchain's
  ASSERT_NE(bin, nullptr) << "no gcprog-stripped test binary";
  SCOPED_TRACE(testing::TestBinaryLabel(*bin));
  TempDir dir;
  std::string out = dir.path() + "/out", err = dir.path() + "/err";
  Proc prog({bin->path}, out, err, {"GODEBUG=gctrace=1"});
  ASSERT_TRUE(WaitForText(out, "ready", std::chrono::seconds(10))) << ReadWholeFile(err);

  std::string cli_out = dir.path() + "/cli.out", cli_err = dir.path() + "/cli.err";
  std::string timeline = dir.path() + "/timeline.json";
  Proc cli({GOSCOPE_BINARY, "gc", "-p", std::to_string(prog.pid()), "--json", "--timeline", timeline}, cli_out,
           cli_err);
  ASSERT_TRUE(WaitForText(cli_err, "probes live", std::chrono::seconds(30))) << ReadWholeFile(cli_err);
  prog.Signal(SIGUSR1);
  ASSERT_TRUE(WaitForText(out, "done", std::chrono::seconds(60))) << ReadWholeFile(err);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the CLI's next drain
  cli.Signal(SIGINT);
  ASSERT_TRUE(cli.WaitForExit(20000)) << ReadWholeFile(cli_err);
  const int status = cli.wait_status();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadWholeFile(cli_err);
  prog.Kill(SIGKILL);

  auto trace = GctraceWindow(ReadWholeFile(err));
  ASSERT_GE(trace.size(), 10u);
  auto doc = nlohmann::json::parse(ReadWholeFile(cli_out));
  EXPECT_EQ(doc["events_lost"], 0);
  EXPECT_EQ(doc["gc_cycles"], trace.size());
  EXPECT_EQ(doc["gc_pause_ns"]["count"], 2 * trace.size());
  ASSERT_EQ(doc["gc_cycle_list"].size(), trace.size());
  for (size_t i = 0; i < trace.size(); ++i) {
    const auto& c = doc["gc_cycle_list"][i];
    EXPECT_EQ(c["n"], trace[i].n);
    EXPECT_EQ(FormatNsAsMs(c["pauses_ns"][0]), trace[i].a) << trace[i].text;
    EXPECT_EQ(FormatNsAsMs(c["pauses_ns"][1]), trace[i].c) << trace[i].text;
    EXPECT_EQ(c["heap_marked_bytes"].get<uint64_t>() >> 20, trace[i].h2) << trace[i].text;
  }
  auto tl = nlohmann::json::parse(ReadWholeFile(timeline));
  size_t gc = 0, stw = 0;
  for (const auto& e : tl["traceEvents"]) {
    if (e["ph"] != "X") continue;
    std::string name = e["name"];
    if (name.starts_with("GC ")) gc++;
    if (name == "STW sweep termination" || name == "STW mark termination") stw++;
  }
  EXPECT_EQ(gc, trace.size());
  EXPECT_EQ(stw, 2 * trace.size());
}

}  // namespace
}  // namespace goscope
