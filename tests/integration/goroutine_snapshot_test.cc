// goscope goroutines reads exactly the goroutines a live Go program has: the
// test program tests/go/goroutines parks known populations (per wait reason,
// blocking function and creating function), and on every toolchain, plain
// and stripped, the snapshot must report exactly those counts, the program's
// own runtime.NumGoroutine() as its user total, and the same functions (and
// file:line) as the program's own runtime/pprof goroutine dumps (debug=2,
// debug=1 and the protobuf profile, read with go tool pprof -traces).
//
// One exclusion, everywhere: the goroutine that wrote the program's dumps
// (goroutine 1, "[running]" inside runtime/pprof at that moment, parked in
// select{} by the time goscope reads it). Nothing else is excluded: every
// other goroutine must match frame for frame.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "output/goroutine_format.h"
#include "process/goroutine_snapshot.h"
#include "runtime_variables.h"
#include "process/target_process.h"
#include "child.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using nlohmann::json;
using testing::RunCommand;
using testing::ShellQuote;

// The goroutines test program, started with args; waits for "ready N".
class GoProgram {
 public:
  GoProgram(const std::string& path, const std::vector<std::string>& args, const std::string& gomaxprocs = "")
      : child_(Argv(path, args), {.in = testing::Io::kInherit,
                                  .out = testing::Io::kPipe,
                                  .err = testing::Io::kNull,
                                  .add_env = gomaxprocs.empty()
                                                 ? std::vector<std::string>{}
                                                 : std::vector<std::string>{"GOMAXPROCS=" + gomaxprocs}}) {
    if (!child_.started()) return;
    std::string line = child_.NextLine(testing::kStdout, 60000).value_or("(timeout or eof)");
    if (std::sscanf(line.c_str(), "ready %d", &num_goroutine_) != 1) error_ = "no 'ready N' line, got '" + line + "'";
  }
  bool ok() const { return child_.started() && error_.empty(); }
  const std::string& error() const { return error_; }
  pid_t pid() const { return child_.pid(); }
  int num_goroutine() const { return num_goroutine_; }
  // Not stopped, not dead: /proc/PID/stat state.
  char State() const {
    std::ifstream f("/proc/" + std::to_string(pid()) + "/stat");
    std::string s;
    std::getline(f, s);
    size_t p = s.rfind(')');
    return p == std::string::npos || p + 2 >= s.size() ? '?' : s[p + 2];
  }

 private:
  static std::vector<std::string> Argv(const std::string& path, const std::vector<std::string>& args) {
    std::vector<std::string> argv{path};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  testing::Child child_;
  std::string error_;
  int num_goroutine_ = -1;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ---- expectations ----------------------------------------------------------

// (wait reason or state, creating function) -> count, for user goroutines.
using Census = std::map<std::pair<std::string, std::string>, int>;

struct Population {
  std::string blocker, creator, reason;
  int count;
};

std::vector<Population> KnownPopulations(int minor) {
  return {
      {"main.blockRecv", "main.startRecv", "chan receive", 3},
      {"main.blockSend", "main.startSend", "chan send", 4},
      {"main.blockSelect", "main.startSelect", "select", 2},
      // Go 1.20 gave sync.Mutex its own wait reason, 1.24 sync.WaitGroup.
      {"main.blockMutex", "main.startMutex", minor >= 20 ? "sync.Mutex.Lock" : "semacquire", 5},
      {"main.blockWG", "main.startWG", minor >= 24 ? "sync.WaitGroup.Wait" : "semacquire", 2},
      {"main.sleeper", "main.startSleep", "sleep", 3},
      {"main.blockNil", "main.startNil", "chan receive (nil chan)", 2},
      {"main.blockWrapped", "main.startWrapped", "chan send", 2},  // in a wrapper from go1.22
      {"main.dumpOnSignal", "main.main", "chan receive", 1},
  };
}

// The closure in signal.Notify that starts os/signal's loop (1.27 added a
// closure before it in Notify).
std::string SignalLoopCreator(int minor) { return minor >= 27 ? "os/signal.Notify.func2.1" : "os/signal.Notify.func1.1"; }

Census ExpectedCensus(int minor) {
  Census c;
  for (const auto& p : KnownPopulations(minor)) c[{p.reason, p.creator}] += p.count;
  c[{"select (no cases)", ""}] += 1;              // goroutine 1, in main.main's select {}
  c[{"syscall", SignalLoopCreator(minor)}] += 1;  // os/signal's loop, in signal_recv
  return c;
}

// "ready" is printed just before main parks in select {}: wait for that
// (main may still be in the write of "ready" when the test reads it).
bool WaitMainParked(const TargetProcess& target, const RuntimeLayout& layout) {
  for (int i = 0; i < 500; i++) {
    for (const Goroutine& g : TakeSnapshot(target, layout).goroutines)
      if (g.goid == 1 && g.wait_reason == "select (no cases)") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

std::string ReasonOrState(const Goroutine& g) { return g.wait_reason.empty() ? g.state : g.wait_reason; }

Census CensusOf(const Snapshot& s) {
  Census c;
  for (const auto& g : s.goroutines)
    if (!g.system && g.state != "dead")
      c[{ReasonOrState(g), g.goid == 1 || !g.created_by ? "" : g.created_by->function}]++;
  return c;
}

Census CensusOf(const json& j) {
  Census c;
  for (const auto& g : j["goroutines"])
    if (!g["system"].get<bool>())
      c[{g["wait_reason"].is_null() ? g["state"].get<std::string>() : g["wait_reason"].get<std::string>(),
         g["created_by"].is_null() ? "" : g["created_by"]["function"].get<std::string>()}]++;
  return c;
}

bool HasFrame(const Goroutine& g, const std::string& fn) {
  for (const auto& f : g.stack)
    if (f.function == fn) return true;
  return false;
}

// ---- Go's dump formats, parsed -------------------------------------------

struct DumpFrame {
  std::string function, where;  // where: "file:line"
  bool operator==(const DumpFrame& o) const { return function == o.function && where == o.where; }
};
struct DumpBlock {
  std::string status;  // "chan receive" (without ", N minutes")
  std::vector<DumpFrame> frames;
  std::string created_by;  // "main.startRecv in goroutine 1"
  std::string created_where;
};

std::vector<std::string> Split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i; (i = s.find(sep, start)) != std::string::npos; start = i + sep.size()) out.push_back(s.substr(start, i - start));
  out.push_back(s.substr(start));
  return out;
}

// "\t/path/file.go:12 +0x1d" -> "/path/file.go:12"
std::string Where(const std::string& line) {
  std::string w = line.substr(line.find_first_not_of('\t'));
  size_t sp = w.find(" +0x");
  return sp == std::string::npos ? w : w.substr(0, sp);
}

// debug=2 text: goid -> block.
std::map<uint64_t, DumpBlock> ParseDebug2(const std::string& text) {
  static const std::regex header(R"(^goroutine (\d+)(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[([^\]]*)\]:$)");
  std::map<uint64_t, DumpBlock> out;
  for (const std::string& blk : Split(text, "\n\n")) {
    auto lines = Split(blk, "\n");
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    while (!lines.empty() && lines.front().empty()) lines.erase(lines.begin());
    if (lines.empty()) continue;
    std::smatch m;
    if (!std::regex_match(lines[0], m, header)) {
      ADD_FAILURE() << "unparsable goroutine header: " << lines[0];
      continue;
    }
    DumpBlock b;
    b.status = Split(m[2].str(), ", ")[0];
    for (size_t i = 1; i < lines.size(); i++) {
      const std::string& l = lines[i];
      if (l.empty() || l[0] == '\t') continue;
      std::string where = i + 1 < lines.size() && !lines[i + 1].empty() && lines[i + 1][0] == '\t' ? Where(lines[i + 1]) : "";
      if (l.rfind("created by ", 0) == 0) {
        b.created_by = l.substr(11);
        b.created_where = where;
      } else if (l.rfind("...", 0) == 0) {
        b.frames.push_back({l, ""});
      } else {
        b.frames.push_back({l.substr(0, l.rfind('(')), where});
      }
    }
    out[std::stoull(m[1].str())] = b;
  }
  return out;
}

// debug=1 text: multiset of (function list) with counts, and the total.
using Groups = std::map<std::vector<std::string>, int>;
Groups ParseDebug1(const std::string& text, int* total) {
  Groups g;
  *total = -1;
  for (const std::string& blk : Split(text, "\n\n")) {
    auto lines = Split(blk, "\n");
    std::vector<std::string> funcs;
    int count = -1;
    for (const auto& l : lines) {
      if (l.rfind("goroutine profile: total ", 0) == 0) {
        *total = std::stoi(l.substr(25));
      } else if (!l.empty() && l[0] != '#') {
        count = std::stoi(l);  // "N @ 0x..."
      } else if (l.rfind("#\t", 0) == 0) {
        std::vector<std::string> cells;
        for (auto& c : Split(l, "\t"))
          if (!c.empty()) cells.push_back(c);
        if (cells.size() >= 3) funcs.push_back(cells[2].substr(0, cells[2].rfind("+0x")));
      }
    }
    if (count > 0) g[funcs] += count;
  }
  return g;
}

bool Mentions(const std::vector<std::string>& funcs, const std::string& fn) {
  return std::find(funcs.begin(), funcs.end(), fn) != funcs.end();
}

// go tool pprof -traces: multiset of traces (function lines, "(inline)" kept).
Groups PprofTraces(const std::string& pprof_cmd, const std::string& file) {
  int rc = 0;
  std::string err;
  std::string out = RunCommand(testing::GoEnvPrefix() + pprof_cmd + " -traces " + ShellQuote(file), "", &rc, &err);
  EXPECT_EQ(rc, 0) << err;
  Groups g;
  for (const std::string& blk : Split(out, "-----------+-------------------------------------------------------")) {
    std::vector<std::string> funcs;
    int count = -1;
    for (const auto& l : Split(blk, "\n")) {
      std::string t = testing::Trim(l);
      if (t.empty() || t.find("File:") == 0 || t.find("Build ID:") == 0 || t.find("Type:") == 0 ||
          t.find("Time:") == 0 || t.find("Duration:") == 0)
        continue;
      if (count < 0 && std::isdigit(static_cast<unsigned char>(t[0]))) {
        size_t sp = t.find_first_of(" \t");
        count = std::stoi(t.substr(0, sp));
        if (sp != std::string::npos) funcs.push_back(testing::Trim(t.substr(sp)));
      } else if (count >= 0) {
        funcs.push_back(t);
      }
    }
    if (count > 0) g[funcs] += count;
  }
  return g;
}

std::string Show(const Groups& g) {
  std::string s;
  for (const auto& [funcs, n] : g) {
    s += std::to_string(n) + ":";
    for (const auto& f : funcs) s += " " + f;
    s += "\n";
  }
  return s;
}

// ---- the tests -------------------------------------------------------------

std::vector<testing::TestBinary> GoroutineBinaries() {
  std::vector<testing::TestBinary> out;
  for (const auto& b : testing::LoadTestBinaries())
    if (b.name == "goroutines") out.push_back(b);
  EXPECT_FALSE(out.empty()) << "no goroutines test binaries in the manifest";
  return out;
}

int Minor(const testing::TestBinary& b) { return testing::ParseGoVersion(b.go_version).minor; }

std::string Goscope() { return GOSCOPE_BINARY; }

TEST(GoroutineSnapshot, ExactPopulationsAndGoDumpsAgree) {
  int checked = 0;
  for (const auto& b : GoroutineBinaries()) {
    checked++;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    testing::TempDir tmp("goroutines");
    const std::string dump = tmp.path() + "/go";
    GoProgram prog(b.path, {"-dump", dump, "-churn", "5000"});
    ASSERT_TRUE(prog.ok()) << prog.error();
    const int minor = Minor(b);

    // Library API.
    TargetProcess target = TargetProcess::Find(prog.pid());
    RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
    ASSERT_TRUE(WaitMainParked(target, layout));
    Snapshot snap = TakeSnapshot(target, layout);
    EXPECT_EQ(snap.user_goroutines(), static_cast<size_t>(prog.num_goroutine()));
    EXPECT_EQ(CensusOf(snap), ExpectedCensus(minor));
    EXPECT_EQ(snap.wait_reasons_from, "target memory");
    EXPECT_GE(snap.allgs_len, snap.goroutines.size());
    EXPECT_EQ(snap.stopped_seconds, 0);
    std::map<std::string, int> by_blocker;
    bool saw_system = false;
    for (const Goroutine& g : snap.goroutines) {
      SCOPED_TRACE("goroutine " + std::to_string(g.goid));
      if (g.system) {
        saw_system = true;
        // Runtime-internal: started at a runtime.* function, by the runtime.
        ASSERT_TRUE(g.created_by);
        EXPECT_TRUE(g.created_by->function.starts_with("runtime.")) << g.created_by->function;
        continue;
      }
      if (g.state == "waiting") {
        EXPECT_EQ(g.stack_quality, StackQuality::kComplete) << g.stack_note;
        EXPECT_TRUE(HasFrame(g, "runtime.gopark"));
      }
      for (const auto& p : KnownPopulations(minor)) {
        if (!HasFrame(g, p.blocker)) continue;
        by_blocker[p.blocker]++;
        EXPECT_EQ(g.wait_reason, p.reason);
        // Parked before the program's runtime.GC(), which recorded waitsince.
        ASSERT_TRUE(g.wait_seconds);
        EXPECT_GE(*g.wait_seconds, 0);
        EXPECT_LT(*g.wait_seconds, 60);
        ASSERT_TRUE(g.created_by);
        EXPECT_EQ(g.created_by->function, p.creator);
        EXPECT_EQ(g.created_by->file.substr(g.created_by->file.rfind('/') + 1), "main.go");
        if (minor >= 21) {
          EXPECT_EQ(g.parent_goid, std::optional<uint64_t>(1));
        } else {
          EXPECT_FALSE(g.parent_goid);
        }
      }
      if (g.created_by && g.created_by->function == SignalLoopCreator(minor)) {
        // os/signal's loop, in a syscall: a full stack from syscallsp/syscallpc on every release.
        EXPECT_EQ(g.state, "syscall");
        EXPECT_EQ(g.stack_quality, StackQuality::kComplete) << g.stack_note;
        EXPECT_TRUE(HasFrame(g, "os/signal.signal_recv"));
        EXPECT_TRUE(HasFrame(g, "os/signal.loop"));
      }
      if (g.goid == 1) {
        EXPECT_TRUE(HasFrame(g, "main.main"));
        EXPECT_FALSE(g.created_by);  // no go statement started it
      }
    }
    EXPECT_TRUE(saw_system);
    for (const auto& p : KnownPopulations(minor)) EXPECT_EQ(by_blocker[p.blocker], p.count) << p.blocker;

    // The frame-pointer chain gives the same stacks for parked goroutines
    // (and for syscalls from go1.23, which saves BP at entersyscall). Only
    // user goroutines: they stay parked between the two snapshots, while the
    // runtime's GC workers may be busy (they wait on the system stack).
    SnapshotOptions fp;
    fp.frame_pointers = true;
    Snapshot fsnap = TakeSnapshot(target, layout, fp);
    ASSERT_EQ(fsnap.goroutines.size(), snap.goroutines.size());
    for (size_t i = 0; i < snap.goroutines.size(); i++) {
      const Goroutine &a = snap.goroutines[i], &f = fsnap.goroutines[i];
      ASSERT_EQ(a.goid, f.goid);
      if (a.system || (a.state != "waiting" && !(a.state == "syscall" && minor >= 23))) continue;
      EXPECT_EQ(a.stack_pcs, f.stack_pcs) << "goroutine " << a.goid << ": " << f.stack_note;
    }

    // Wait reasons from the per-version constants give the same names.
    RuntimeLayout no_strings = layout;
    no_strings.values.erase("runtime.waitReasonStrings");
    Snapshot tsnap = TakeSnapshot(target, no_strings);
    EXPECT_EQ(tsnap.wait_reasons_from, "table");
    EXPECT_EQ(CensusOf(tsnap), CensusOf(snap));

    // Go's own debug=2 dump names the same frames, file:line, creators.
    auto go2 = ParseDebug2(ReadFile(dump + ".debug2.txt"));
    auto us2 = ParseDebug2(FormatGoroutinesText(snap));
    ASSERT_FALSE(go2.empty());
    std::set<uint64_t> go_ids, us_ids;
    for (const auto& [id, blk] : go2) go_ids.insert(id);
    for (const auto& [id, blk] : us2) us_ids.insert(id);
    EXPECT_EQ(go_ids, us_ids);
    ASSERT_EQ(go2.count(1), 1u);
    EXPECT_EQ(go2[1].status, "running");  // the dumper: excluded below
    for (const auto& [id, gob] : go2) {
      if (id == 1 || !us2.count(id)) continue;
      SCOPED_TRACE("goroutine " + std::to_string(id));
      const DumpBlock& ub = us2[id];
      EXPECT_EQ(ub.status, gob.status);
      EXPECT_EQ(ub.frames, gob.frames);
      EXPECT_EQ(ub.created_by, gob.created_by);
      EXPECT_EQ(ub.created_where, gob.created_where);
    }

    // The CLI, JSON.
    int rc = 0;
    std::string err;
    std::string out = RunCommand(Goscope() + " goroutines --format json -p " + std::to_string(prog.pid()), "", &rc, &err);
    ASSERT_EQ(rc, 0) << err;
    json j = json::parse(out);
    EXPECT_EQ(j["pid"], prog.pid());
    EXPECT_EQ(j["go_version"], b.go_version);
    EXPECT_EQ(CensusOf(j), ExpectedCensus(minor));
    EXPECT_EQ(j["user_goroutines"], prog.num_goroutine());
    for (const auto& g : j["goroutines"]) {
      EXPECT_TRUE(g.contains("wait_seconds") && g.contains("parent_goid") && g.contains("stack"));
      if (minor < 21) {
        EXPECT_TRUE(g["parent_goid"].is_null());
      }
    }
    std::smatch m;
    EXPECT_TRUE(std::regex_search(
        err, m, std::regex(R"(goscope goroutines: read (\d+) goroutines \((\d+) user\) in [0-9.]+ ms, process not stopped)")))
        << err;
    if (!m.empty()) {
      EXPECT_EQ(std::stoi(m[2].str()), prog.num_goroutine());
    }

    // The CLI, --group, against Go's debug=1.
    out = RunCommand(Goscope() + " goroutines --group -p " + std::to_string(prog.pid()), "", &rc, &err);
    ASSERT_EQ(rc, 0) << err;
    int go_total = 0, us_total = 0;
    Groups go1 = ParseDebug1(ReadFile(dump + ".debug1.txt"), &go_total);
    Groups us1 = ParseDebug1(out, &us_total);
    EXPECT_EQ(go_total, prog.num_goroutine());
    EXPECT_EQ(us_total, prog.num_goroutine());
    for (Groups* g : {&go1, &us1})
      for (auto it = g->begin(); it != g->end();)
        it = Mentions(it->first, "main.main") || Mentions(it->first, "main.writeDumps") ? g->erase(it) : ++it;
    EXPECT_EQ(Show(us1), Show(go1));

    // The CLI, pprof, against Go's own profile, both read by go tool pprof.
    const testing::GoToolchain* tc = testing::ToolchainFor(b.go_version);
    ASSERT_NE(tc, nullptr);
    const std::string ours = tmp.path() + "/us.pb.gz";
    RunCommand(Goscope() + " goroutines --format pprof -o " + ShellQuote(ours) + " -p " + std::to_string(prog.pid()),
               "", &rc, &err);
    ASSERT_EQ(rc, 0) << err;
    Groups gop = PprofTraces(tc->Tool("pprof"), dump + ".pb.gz");
    Groups usp = PprofTraces(tc->Tool("pprof"), ours);
    int go_n = 0, us_n = 0;
    for (const auto& [f, n] : gop) go_n += n;
    for (const auto& [f, n] : usp) us_n += n;
    EXPECT_EQ(go_n, prog.num_goroutine());
    EXPECT_EQ(us_n, prog.num_goroutine());
    for (Groups* g : {&gop, &usp})
      for (auto it = g->begin(); it != g->end();)
        it = Mentions(it->first, "main.main") || Mentions(it->first, "main.writeDumps") ? g->erase(it) : ++it;
    EXPECT_EQ(Show(usp), Show(gop));
    EXPECT_GT(usp.size(), 8u) << Show(usp);
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(testing::InstalledGoToolchains().size())) << "every toolchain x (plain, stripped)";
}

TEST(GoroutineSnapshot, FreezeStopsBrieflyAndAlwaysResumes) {
  for (const auto& b : GoroutineBinaries()) {
    if (b.variant != "stripped") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    GoProgram prog(b.path, {"-churn", "1000"});
    ASSERT_TRUE(prog.ok()) << prog.error();
    TargetProcess target = TargetProcess::Find(prog.pid());
    RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
    ASSERT_TRUE(WaitMainParked(target, layout));
    SnapshotOptions opts;
    opts.freeze = true;
    Snapshot snap = TakeSnapshot(target, layout, opts);
    EXPECT_TRUE(snap.frozen);
    EXPECT_GT(snap.stopped_seconds, 0);
    EXPECT_LT(snap.stopped_seconds, 0.5);
    EXPECT_EQ(CensusOf(snap), ExpectedCensus(Minor(b)));
    // Detached: running (or sleeping) again, not in a ptrace stop.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    char st = prog.State();
    EXPECT_TRUE(st == 'S' || st == 'R') << "state " << st;
    int rc = 0;
    std::string err;
    RunCommand(Goscope() + " goroutines --freeze -p " + std::to_string(prog.pid()), "", &rc, &err);
    EXPECT_EQ(rc, 0) << err;
    EXPECT_NE(err.find("process stopped for"), std::string::npos) << err;
    st = prog.State();
    EXPECT_TRUE(st == 'S' || st == 'R') << "state " << st;
  }
}

// Short-lived goroutines come and go while goscope reads: the parked
// populations are still exact and no stack is torn.
TEST(GoroutineSnapshot, ExactUnderChurn) {
  for (const auto& b : GoroutineBinaries()) {
    if (b.variant != "plain") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    GoProgram prog(b.path, {"-churn", "1000", "-churn-forever"});
    ASSERT_TRUE(prog.ok()) << prog.error();
    TargetProcess target = TargetProcess::Find(prog.pid());
    RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
    ASSERT_TRUE(WaitMainParked(target, layout));
    Census want = ExpectedCensus(Minor(b));
    for (int i = 0; i < 5; i++) {
      Snapshot snap = TakeSnapshot(target, layout);
      Census got;
      int churners = 0;
      for (const auto& [k, n] : CensusOf(snap)) {
        if (k.second == "main.churn" || k.second == "main.churner" ||
            (k.second == "main.main" && k.first != "chan receive"))
          churners += n;  // churn workers, and the churner itself (created by main.main)
        else
          got[k] += n;
      }
      // The churner goroutine is created by main.main like dumpOnSignal; it
      // is never in chan receive.
      EXPECT_EQ(got, want);
      for (const Goroutine& g : snap.goroutines) {
        if (g.system || g.stack_quality != StackQuality::kTruncated) continue;
        ADD_FAILURE() << "goroutine " << g.goid << " stack truncated: " << g.stack_note;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

// A goroutine on a CPU has no reliable stack: it is reported unavailable,
// never guessed; caught preempted, its stack unwinds through asyncPreempt.
TEST(GoroutineSnapshot, RunningGoroutinesSaySo) {
  auto all = GoroutineBinaries();
  const testing::TestBinary* b = nullptr;
  for (const auto& x : all)
    if (x.variant == "plain") b = &x;  // the newest toolchain's
  ASSERT_NE(b, nullptr);
  // Three spinners on one P: at any instant one runs, the others wait
  // runnable after asynchronous preemption.
  GoProgram prog(b->path, {"-churn", "0", "-spin", "3"}, "1");
  ASSERT_TRUE(prog.ok()) << prog.error();
  TargetProcess target = TargetProcess::Find(prog.pid());
  RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  int running = 0, parked = 0;
  for (int i = 0; i < 30; i++) {
    Snapshot snap = TakeSnapshot(target, layout);
    int spinners = 0;
    for (const Goroutine& g : snap.goroutines) {
      if (!g.created_by || g.created_by->function != "main.startSpin") continue;
      spinners++;
      if (g.state == "running") {
        running++;
        EXPECT_EQ(g.stack_quality, StackQuality::kUnavailable);
        EXPECT_TRUE(g.stack.empty());
        EXPECT_EQ(g.stack_note, "goroutine running on other thread; stack unavailable");
        std::string text = FormatGoroutinesText(snap);
        EXPECT_NE(text.find("\tgoroutine running on other thread; stack unavailable\n"), std::string::npos);
        for (const auto& jg : GoroutinesJson(snap)["goroutines"])
          if (jg["goid"] == g.goid) {
            EXPECT_TRUE(jg["stack"].is_null()) << jg.dump();
          }
      } else {
        parked++;
        EXPECT_EQ(g.stack_quality, StackQuality::kComplete) << g.state << ": " << g.stack_note;
        // The innermost frame Go would show is the spinner itself.
        std::string first;
        for (const auto& f : g.stack)
          if (GoShowsFrame(f.function, first.empty())) {
            first = f.function;
            break;
          }
        EXPECT_EQ(first, "main.spinner") << g.state;
      }
    }
    EXPECT_EQ(spinners, 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_GT(running, 0);
  EXPECT_GT(parked, 0);
  std::printf("spinner seen running %d times, descheduled %d times\n", running, parked);
}

// ~10000 goroutines: read in milliseconds, exact.
TEST(GoroutineSnapshot, TenThousandGoroutines) {
  auto all = GoroutineBinaries();
  const testing::TestBinary* b = nullptr;
  for (const auto& x : all)
    if (x.variant == "stripped") b = &x;
  ASSERT_NE(b, nullptr);
  GoProgram prog(b->path, {"-churn", "0", "-many", "10000"});
  ASSERT_TRUE(prog.ok()) << prog.error();
  TargetProcess target = TargetProcess::Find(prog.pid());
  RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  ASSERT_TRUE(WaitMainParked(target, layout));
  for (bool freeze : {false, true}) {
    SnapshotOptions opts;
    opts.freeze = freeze;
    Snapshot snap = TakeSnapshot(target, layout, opts);
    EXPECT_EQ(snap.user_goroutines(), static_cast<size_t>(prog.num_goroutine()));
    Census want = ExpectedCensus(Minor(*b));
    want[{"chan receive", "main.startMany"}] = 10000;
    EXPECT_EQ(CensusOf(snap), want);
    EXPECT_LT(snap.read_seconds, 1.0);
    std::printf("%zu goroutines: read in %.2f ms%s\n", snap.goroutines.size(), snap.read_seconds * 1e3,
                freeze ? fmt::format(", stopped {:.2f} ms", snap.stopped_seconds * 1e3).c_str() : "");
  }
}

TEST(GoroutineSnapshot, CliRefusesNonGoAndBadUsage) {
  int rc = 0;
  std::string err;
  RunCommand(Goscope() + " goroutines", "", &rc, &err);
  EXPECT_EQ(rc, 2) << err;
  RunCommand(Goscope() + " goroutines -p " + std::to_string(getpid()), "", &rc, &err);
  EXPECT_EQ(rc, 1) << err;  // the test binary is not a Go program
  EXPECT_NE(err.find("not a Go binary"), std::string::npos) << err;
  RunCommand(Goscope() + " goroutines --format pprof -p 1", "", &rc, &err);
  EXPECT_EQ(rc, 2) << err;
  std::string help = RunCommand(Goscope() + " goroutines --help", "", &rc, &err);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("--freeze"), std::string::npos);
}

}  // namespace
}  // namespace goscope
