// goscope's leak proof against the runtime's own: leakprog parks goroutines
// leaked and alive by construction; on go1.26 (built with the experiment) and
// go1.27 the runtime's goroutineleak profile of the same process, at the same
// moment, is the oracle; on every release the sets are known. Plain and
// stripped. Also the CLI and its refusals.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent_under_test.h"
#include "bpf_required.h"
#include "child.h"
#include "error.h"
#include "heap_test_util.h"
#include "model/leak_proof.h"
#include "process/goroutine_snapshot.h"
#include "process/leak_prover.h"
#include "process/retention_walker.h"
#include "process/target_process.h"
#include "prometheus_server.h"
#include "runtime_variables.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::Child;
using testing::ProcessState;
using testing::ChildOptions;
using testing::Io;
using Counts = std::map<std::string, size_t>;  // goroutine function -> leaked goroutines

// What leakprog leaks, by the function each leaked goroutine runs.
Counts ExpectedLeaks(int minor) {
  Counts c = {{"main.leakChanRecv.func1", 5}, {"main.leakChanSend.func1", 3}, {"main.leakSelect.func1", 2},
              {"main.leakNilChan.func1", 2},  {"main.leakMutex.func1", 3},    {"main.leakWaitGroup.func1", 2},
              {"main.leakChain.func1", 1},    {"main.leakChain.func2", 1}};
  // Before go1.26 the runtime does not record what a Cond waiter waits on.
  if (minor >= 26) c["main.leakCond.func1"] = 2;
  return c;
}

int Minor(const testing::TestBinary& b) { return testing::ParseGoVersion(b.go_version).minor; }

struct Proven {
  LeakProof proof;
  Counts by_function;
  size_t runtime_found = 0;
};

Proven Prove(pid_t pid) {
  TargetProcess target = TargetProcess::Find(pid);
  const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
  Proven p;
  GroupedLeakProof grouped = ProveAndGroupLeaks(target, layout);
  p.proof = std::move(grouped.proof);
  for (const ProvenLeakGroup& g : grouped.groups) {
    EXPECT_FALSE(g.blocked_stack.empty());
    if (g.blocked_stack.empty()) continue;
    p.by_function[g.blocked_stack.back().function] += g.count;
    p.runtime_found += g.runtime_found;
  }
  return p;
}

// /debug/pprof/goroutineleak?debug=1: "N @ pcs" then "#\t0x..\tfunc+0x..\tfile:line"
// lines, innermost first; the last is the goroutine's function.
Counts RuntimeLeaks(uint16_t port) {
  auto reply = testing::PrometheusServer::HttpGet(port, "/debug/pprof/goroutineleak?debug=1",
                                                  std::chrono::milliseconds(20000));
  EXPECT_EQ(reply.status, 200) << reply.body;
  Counts out;
  std::istringstream in(reply.body);
  size_t n = 0;
  std::string last;
  auto flush = [&] {
    if (n && !last.empty()) out[last] += n;
    n = 0, last.clear();
  };
  static const std::regex kRecord(R"(^(\d+) @ )"), kFrame(R"(^#\s+0x[0-9a-f]+\s+(\S+)\+0x[0-9a-f]+\s)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kRecord)) {
      flush();
      n = std::stoul(m[1]);
    } else if (std::regex_search(line, m, kFrame)) {
      last = m[1];
    }
  }
  flush();
  return out;
}

uint16_t PprofPort(Child& prog) {
  auto line = prog.WaitForLine(testing::kStdout, "pprof http://127.0.0.1:", 20000);
  if (!line) return 0;
  return static_cast<uint16_t>(std::stoul(line->substr(line->rfind(':') + 1)));
}

std::string Show(const Counts& c) {
  std::string s;
  for (const auto& [f, n] : c) s += f + "=" + std::to_string(n) + " ";
  return s;
}

// Exactly the truth. The two ways to differ fail apart: a false positive (a
// live goroutine called leaked) is a wrong proof; a miss is a stale word read
// conservatively (a register, a thread's two innermost frames, a running
// goroutine's stack) that kept what a leaked goroutine waits on.
void ExpectSame(const Counts& got, const Counts& truth) {
  for (const auto& [function, n] : got) {
    auto it = truth.find(function);
    EXPECT_TRUE(it != truth.end() && n <= it->second) << "not leaked, yet proven: " << function << " x" << n;
  }
  EXPECT_EQ(got, truth) << "missed: goscope " << Show(got) << "\n        truth   " << Show(truth);
}

TEST(LeakProof, EqualsTheRuntimesGoroutineleakProfile) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "leakprog" || Minor(b) < 26) continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child prog({b.path}, ChildOptions{.in = Io::kPipe});
    uint16_t port = PprofPort(prog);
    ASSERT_NE(port, 0) << prog.err();
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();

    // goscope first, while no goroutine has the runtime's leaked status...
    Proven before = Prove(prog.pid());
    EXPECT_EQ(before.runtime_found, 0u);
    EXPECT_TRUE(before.proof.notes.empty()) << before.proof.notes.front();
    // ...then the runtime's own answer for the same, unchanged, goroutines...
    Counts runtime = RuntimeLeaks(port);
    EXPECT_EQ(runtime, ExpectedLeaks(Minor(b))) << "the oracle itself: " << Show(runtime);
    ExpectSame(before.by_function, runtime);
    // ...and goscope again: those the runtime marked _Gleaked are leaked, all.
    Proven after = Prove(prog.pid());
    EXPECT_EQ(after.by_function, runtime) << Show(after.by_function);
    size_t total = 0;
    for (const auto& [f, n] : runtime) total += n;
    EXPECT_EQ(after.runtime_found, total);
    EXPECT_NE(ProcessState(prog.pid()), 't');
    checked++;
  }
  EXPECT_EQ(checked, 4) << "leakprog plain and stripped from go1.26 and go1.27";
}

// Every release, plain and stripped: exactly the constructed leaks, and so no
// alive look-alike (worker pool, waits held by a sleeping, chained or global
// owner) among them.
TEST(LeakProof, ProvesTheConstructedLeaksOnEveryRelease) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "leakprog") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child prog({b.path}, ChildOptions{.in = Io::kPipe});
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
    Proven p = Prove(prog.pid());
    ExpectSame(p.by_function, ExpectedLeaks(Minor(b)));
    if (Minor(b) < 26) {
      ASSERT_EQ(p.proof.notes.size(), 1u);
      EXPECT_NE(p.proof.notes[0].find("2 goroutines in sync.Cond.Wait not judged"), std::string::npos)
          << p.proof.notes[0];
    }
    // Parked goroutines are walked by their stack maps: a walk that fails
    // falls back to every word, which is safe and would go unnoticed.
    EXPECT_GE(p.proof.stacks_precise, 15u);
    EXPECT_LE(p.proof.stacks_conservative, 2u) << "only goroutines caught running";
    // Idle threads wait on their g0 stacks, in futexsleep under the
    // scheduler's frames: those are walked by their maps, not read word by
    // word (their stale words hid leaks).
    EXPECT_GE(p.proof.system_stacks_precise, 1u);
    EXPECT_LE(p.proof.system_stacks_conservative, 1u) << "a thread caught outside Go code (vDSO)";
    std::printf("[ system stacks ] %zu by their maps, %zu word by word\n", p.proof.system_stacks_precise,
                p.proof.system_stacks_conservative);
    EXPECT_GT(p.proof.heap_bytes, 0u);
    EXPECT_GT(p.proof.objects_marked, 0u);
    EXPECT_GT(p.proof.pause_seconds, 0.0);
    EXPECT_LT(p.proof.pause_seconds, 1.0);
    EXPECT_NE(ProcessState(prog.pid()), 't') << "the process must run on";
    // It still answers: the line it reads is taken.
    ASSERT_TRUE(prog.WriteLine("exit"));
    EXPECT_EQ(prog.Wait(10000), 0);
    checked++;
  }
  EXPECT_EQ(checked, 2 * 8) << "leakprog plain and stripped from every toolchain";
}

TEST(LeakProof, Cli) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "leakprog", "stripped");
  ASSERT_TRUE(b);
  Child prog({b->path}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
  const std::string goscope = heaptest::GoscopeBinary();
  const std::string pid = std::to_string(prog.pid());

  Child json({goscope, "leaks", "-p", pid, "--json"});
  ASSERT_EQ(json.Wait(), 0) << json.err();
  auto doc = nlohmann::json::parse(json.out());
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["pid"], prog.pid());
  // 21 by construction; conservative marking may hide a group (see above).
  const size_t leaked = doc["leaked"].get<size_t>();
  EXPECT_LE(leaked, 21u);
  EXPECT_GE(leaked, 15u);
  size_t sum = 0;
  for (const auto& g : doc["groups"]) {
    sum += g["count"].get<size_t>();
    EXPECT_EQ(g["goids"].size(), g["count"].get<size_t>());
    EXPECT_FALSE(g["blocked_stack"].empty());
    EXPECT_TRUE(g["created_by"].is_object());
    if (g["wait_reason"] != "chan receive (nil chan)") {
      EXPECT_FALSE(g["blocking_objects"].empty()) << g.dump();
    }
    // What a channel carries, from its element type (a stripped binary too).
    if (g["wait_reason"] == "select") {
      EXPECT_EQ(g["blocking_types"], nlohmann::json::array({"chan int", "chan string"})) << g.dump();
    } else if (g["wait_reason"] == "chan receive" || g["wait_reason"] == "chan send") {
      EXPECT_EQ(g["blocking_types"], nlohmann::json::array({"chan int"})) << g.dump();
    } else {
      EXPECT_TRUE(g["blocking_types"].empty()) << g.dump();
    }
  }

  EXPECT_EQ(sum, leaked);
  EXPECT_NE(json.err().find("stopped for"), std::string::npos) << json.err();

  Child text({goscope, "leaks", "-p", pid});
  ASSERT_EQ(text.Wait(), 0) << text.err();
  EXPECT_NE(text.out().find("goroutines proven leaked in pid " + pid), std::string::npos) << text.out();
  EXPECT_NE(text.out().find("2 goroutines [chan receive (nil chan)]: can never run again"), std::string::npos)
      << text.out();
  EXPECT_NE(text.out().find("main.leakNilChan"), std::string::npos);

  // Refusals: a process that is not there, a bad limit.
  Child gone({goscope, "leaks", "-p", "999999999"});
  EXPECT_EQ(gone.Wait(), 1);
  EXPECT_NE(gone.err().find("not found"), std::string::npos) << gone.err();
  Child bad({goscope, "leaks", "-p", pid, "--max-pause", "0"});
  EXPECT_EQ(bad.Wait(), 2) << bad.err();
  EXPECT_NE(ProcessState(prog.pid()), 't');
}

// A process that exec'd another program after goscope found it: the layout
// goscope has is the old program's, so it reads nothing and concludes
// nothing, whichever of the two reads (proof, retention) it was about to do.
TEST(LeakProof, AProcessThatExecdSinceFoundIsRefused) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* from = testing::NewestBuild(bins, "leakprog", "plain");
  const testing::TestBinary* to = testing::OldestBuild(bins, "leakprog", "stripped");
  ASSERT_TRUE(from && to);
  for (const std::string read : {"leaks", "retain"}) {
    SCOPED_TRACE(read);
    Child prog({from->path}, ChildOptions{.in = Io::kPipe});
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
    TargetProcess target = TargetProcess::Find(prog.pid());
    const RuntimeLayout layout = ResolveRuntimeLayout(*target.binary);
    ASSERT_TRUE(prog.WriteLine("exec " + to->path));
    // The same pid, another program: its own "ready" comes on the same pipe.
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
    try {
      if (read == "leaks")
        ProveAndGroupLeaks(target, layout);
      else
        MeasureRetention(target, layout);
      ADD_FAILURE() << "read another program's memory by the first one's layout";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("runs another program than when goscope found it"), std::string::npos)
          << e.what();
    }
    EXPECT_NE(ProcessState(prog.pid()), 't');
    // And found anew, it is read as what it is now.
    EXPECT_EQ(Prove(prog.pid()).by_function, ExpectedLeaks(Minor(*to)));
    ASSERT_TRUE(prog.WriteLine("exit"));
    EXPECT_EQ(prog.Wait(10000), 0);
  }
}

// --max-pause: a proof that would stop the process longer gives up, says so,
// and lets the process go (bigheap's 100 MiB take about 140 ms here).
TEST(LeakProof, MaxPauseGivesUpAndLetsTheProcessGo) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "bigheap", "stripped");
  ASSERT_TRUE(b);
  Child prog({b->path, "-mib", "100"}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 60000)) << prog.err();
  Child limited({heaptest::GoscopeBinary(), "leaks", "-p", std::to_string(prog.pid()), "--max-pause", "10"});
  EXPECT_EQ(limited.Wait(60000), 1);
  EXPECT_NE(limited.err().find("gave up after"), std::string::npos) << limited.err();
  EXPECT_NE(limited.err().find("the process runs on"), std::string::npos) << limited.err();
  EXPECT_TRUE(limited.out().empty()) << limited.out();
  EXPECT_NE(ProcessState(prog.pid()), 't');
  // It runs: it reads its input to the end and exits.
  prog.CloseStdin();
  EXPECT_EQ(prog.Wait(20000), 0);
}

// The suspect whose goroutines run fn, or null.
const nlohmann::json* SuspectRunning(const nlohmann::json& leaks, const std::string& fn) {
  for (const auto& s : leaks["suspects"])
    if (!s["blocked_stack"].empty() && s["blocked_stack"].back()["function"] == fn) return &s;
  return nullptr;
}

// Suspected and proven side by side: the worker pool (parked on a channel a
// global holds) is a suspect none of whose members is proven; the channel
// leak's suspect is proven whole (or partly: conservative marking).
void ExpectProvenMarks(const nlohmann::json& leaks) {
  ASSERT_TRUE(leaks["proof"].is_object()) << leaks.dump();
  EXPECT_GT(leaks["proof"]["leaked"].get<size_t>(), 0u);
  const nlohmann::json* pool = SuspectRunning(leaks, "main.workerPool.func1");
  const nlohmann::json* nil = SuspectRunning(leaks, "main.leakNilChan.func1");
  ASSERT_TRUE(pool && nil) << leaks.dump();
  EXPECT_EQ((*pool)["count"], 4);
  EXPECT_EQ((*pool)["proven"], 0) << "a worker pool is suspected, never proven";
  EXPECT_EQ((*nil)["proven"], 2) << "nothing can wake a receive on a nil channel";
  for (const auto& s : leaks["suspects"]) EXPECT_LE(s["proven"].get<size_t>(), s["count"].get<size_t>());
}

TEST(LeakProof, AttachMarksItsSuspectsProven) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "leakprog", "plain");
  ASSERT_TRUE(b);
  Child prog({b->path}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
  heaptest::TempDir dir;
  Child attach({heaptest::GoscopeBinary(), "attach", "-p", std::to_string(prog.pid()), "--duration", "1", "-o",
                dir.path() + "/out", "--prove-leaks", "--alloc-mode", "off"});
  ASSERT_EQ(attach.Wait(60000), 0) << attach.err();
  EXPECT_NE(attach.err().find("leak proof:"), std::string::npos) << attach.err();
  std::ifstream in(dir.path() + "/out/leaks.json");
  nlohmann::json leaks = nlohmann::json::parse(in, nullptr, false);
  ExpectProvenMarks(leaks);
  std::ifstream txt(dir.path() + "/out/leaks.txt");
  std::string text((std::istreambuf_iterator<char>(txt)), {});
  EXPECT_NE(text.find("none proven leaked"), std::string::npos) << text;
  EXPECT_NE(text.find("goroutines proven leaked in pid"), std::string::npos) << text;
}

TEST(LeakProof, TheAgentProvesOnRequestOnlyAndAtMostOnceAMinute) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "leakprog", "stripped");
  ASSERT_TRUE(b);
  // A private copy that only this agent watches.
  heaptest::TempDir dir;
  const std::string own = dir.path() + "/leakprog-agent";
  int rc = -1;
  testing::RunCommand("cp " + testing::ShellQuote(b->path) + " " + testing::ShellQuote(own), "", &rc);
  ASSERT_EQ(rc, 0);
  Child prog({own}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 20000)) << prog.err();
  const pid_t pid = prog.pid();
  testing::AgentUnderTest agent(own);
  ASSERT_GT(agent.port(), 0) << agent.child().err();
  std::string m;
  ASSERT_TRUE(testing::WaitForMetrics(
      agent, [&](const std::string& t) { return testing::MetricValue(t, "goscope_goroutines", pid) > 0; }, &m))
      << m;
  auto get = [&](const std::string& path) {
    return testing::PrometheusServer::HttpGet(static_cast<uint16_t>(agent.port()), path, std::chrono::seconds(20));
  };
  const std::string base = "/leaks?pid=" + std::to_string(pid);
  // Without prove=1, no proof (and no stop).
  auto plain = get(base);
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_TRUE(nlohmann::json::parse(plain.body)["proof"].is_null()) << plain.body;
  EXPECT_EQ(get(base + "&prove=2").status, 400);

  auto proven = get(base + "&prove=1");
  ASSERT_EQ(proven.status, 200) << proven.body;
  ExpectProvenMarks(nlohmann::json::parse(proven.body));
  EXPECT_TRUE(agent.child().WaitFor(1, "leak proof of pid", 5000).has_value()) << agent.child().err();

  auto again = get(base + "&prove=1");
  EXPECT_EQ(again.status, 429) << again.body;
  EXPECT_NE(again.body.find("at most one proof per 60 s"), std::string::npos) << again.body;
  EXPECT_NE(ProcessState(pid), 't');
}

}  // namespace
}  // namespace goscope
