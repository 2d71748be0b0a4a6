// goscope attach on a program whose goroutine population is created only
// after the probes are live: created, exited and the top leak suspect must be
// exact, on every toolchain, plain and stripped, and the program's own output
// must not change.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "child.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using nlohmann::json;
using testing::RunCommand;
using testing::ShellQuote;

// A child process whose stdout (or stderr) goes to a file we can poll.
struct Proc : testing::Child {
  Proc(const std::vector<std::string>& argv, const std::string& out_path, bool capture_stderr = false)
      : Child(argv, {.in = testing::Io::kInherit,
                     .out = capture_stderr ? testing::Io::kInherit : testing::Io::kFile,
                     .err = capture_stderr ? testing::Io::kFile : testing::Io::kInherit,
                     .out_path = out_path,
                     .err_path = out_path}) {}
  int Wait() { return Child::Wait(testing::kForever); }
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Polls path until it contains needle (or fails after timeout).
bool WaitFor(const std::string& path, const std::string& needle, int timeout_ms = 20000) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (Slurp(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool StackHas(const json& frames, const std::string& fn) {
  for (const auto& f : frames)
    if (f["function"] == fn) return true;
  return false;
}

class Attach : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  testing::TempDir tmp_{"attach"};
  std::string dir_ = tmp_.path();
};

// The checksum the program prints when nobody traces it.
std::string UntracedOutput(const std::string& path, const std::string& scratch) {
  Proc p({path, "-exit", "200", "-leak", "37", "-pulls", "5"}, scratch);
  EXPECT_TRUE(WaitFor(scratch, "ready"));
  kill(p.pid(), SIGUSR1);
  EXPECT_TRUE(WaitFor(scratch, "done"));
  kill(p.pid(), SIGTERM);
  p.Wait();
  return Slurp(scratch);
}

// Attaches to a fresh leaker with extra arguments, lets it create its
// population (SIGUSR1), ends the run with SIGINT and checks that the program
// printed what it prints untraced. Returns the output directory.
std::string TraceLeaker(const testing::TestBinary& b, const std::string& dir, const std::string& tag,
                        const std::vector<std::string>& extra, const std::string& untraced) {
  std::string prog_out = dir + "/prog-" + tag, gs_err = dir + "/goscope-" + tag, out = dir + "/out-" + tag;
  Proc prog({b.path, "-exit", "200", "-leak", "37", "-pulls", "5"}, prog_out);
  EXPECT_TRUE(WaitFor(prog_out, "ready"));
  std::vector<std::string> argv = {GOSCOPE_BINARY, "attach", "-p", std::to_string(prog.pid()), "-o", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Proc gs(argv, gs_err, true);
  EXPECT_TRUE(WaitFor(gs_err, "probes live")) << Slurp(gs_err);
  kill(prog.pid(), SIGUSR1);
  EXPECT_TRUE(WaitFor(prog_out, "done"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last exits drain
  kill(gs.pid(), SIGINT);
  EXPECT_EQ(gs.Wait(), 0) << Slurp(gs_err);
  EXPECT_NE(Slurp(gs_err).find("interrupted by SIGINT"), std::string::npos) << Slurp(gs_err);
  kill(prog.pid(), SIGTERM);
  prog.Wait();
  EXPECT_EQ(Slurp(prog_out), untraced) << "tracing changed what the program printed";
  return out;
}

// What every mode must get exactly: the counts, the live goroutines, the
// top suspect and its blocked stack, the heap sampler switched and restored.
void ExpectExactCounts(const std::string& out, bool has_pull) {
  json summary = json::parse(Slurp(out + "/summary.json"));
  int pulls = has_pull ? 5 : 0;
  EXPECT_EQ(summary["goroutines_created"], 200 + 37 + pulls);
  EXPECT_EQ(summary["goroutines_exited"], 200 + pulls);
  EXPECT_EQ(summary["goroutine_counts"], "goroutine ids in memory");
  EXPECT_EQ(summary["events_lost"], 0);
  EXPECT_EQ(summary["goroutines_live"], 37 + 2);  // main and os/signal's loop
  // The leaker does not import runtime/pprof: its sampler was off, goscope
  // switched it on for the run and back off at the end.
  EXPECT_EQ(summary["alloc_mode"], "sampled");
  EXPECT_EQ(summary["memprofilerate_written"], true);
  EXPECT_EQ(summary["memprofilerate_restored"], true);
  EXPECT_TRUE(testing::FileExists(out + "/heap.pb.gz"));
  json leaks = json::parse(Slurp(out + "/leaks.json"));
  ASSERT_FALSE(leaks["suspects"].empty());
  const json& top = leaks["suspects"][0];
  EXPECT_EQ(top["count"], 37);
  EXPECT_EQ(top["wait_reason"], "chan receive");
  EXPECT_GT(top["growth_per_minute"].get<double>(), 0);
  EXPECT_TRUE(StackHas(top["blocked_stack"], "main.waitForever")) << top.dump();
  EXPECT_TRUE(StackHas(top["creation_stack"], "main.leakSite")) << top.dump();
  EXPECT_NE(Slurp(out + "/leaks.txt").find("37 goroutines [chan receive]"), std::string::npos);
}

// Every creation probed (--creations always): the same counts, and each
// goroutine's creation in the timeline with its creator's whole stack.
TEST_F(Attach, CountsAndTopSuspectAreExact) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  int runs = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "leaker") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    std::string tag = b.go_version + "-" + b.variant;
    std::string untraced = UntracedOutput(b.path, dir_ + "/untraced-" + tag);
    bool has_pull = testing::ParseGoVersion(b.go_version).minor >= 23;
    std::string out = TraceLeaker(b, dir_, tag, {"--creations", "always", "--format", "folded"}, untraced);
    ExpectExactCounts(out, has_pull);
    json summary = json::parse(Slurp(out + "/summary.json"));
    EXPECT_EQ(summary["creation_probes"], "always");
    EXPECT_EQ(summary["creation_probes_on_since_seconds"], 0);
    EXPECT_GT(summary["goroutine_probes"].get<int>(), 0);
    EXPECT_NE(Slurp(out + "/flame.svg").find("</svg>"), std::string::npos);
    EXPECT_TRUE(testing::FileExists(out + "/heap.folded"));
    // The traced creation stack is whole: the go statement's function and its callers.
    const json top = json::parse(Slurp(out + "/leaks.json"))["suspects"][0];
    EXPECT_TRUE(StackHas(top["creation_stack"], "main.main")) << top.dump();
    json timeline = json::parse(Slurp(out + "/timeline.json"));
    EXPECT_GE(timeline["traceEvents"].size(), 200u + 37u);

    // pprof reads the goroutine profile and sees the 37 leaked goroutines under waitForever.
    int rc = 0;
    const auto* tc = testing::ToolchainFor(b.go_version);
    std::string top_out = RunCommand(tc->Tool("pprof") + " -top " + ShellQuote(out + "/goroutines.pb.gz"), "", &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(top_out.find("main.waitForever"), std::string::npos) << top_out;
    runs++;
  }
  EXPECT_GE(runs, 10);
}

// attach -p's default: a burst that does not keep growing never turns the
// creation probes on (no probe hit per goroutine: only the GC's probes), and
// the counts are as exact, from the goroutine ids in memory. The suspect's
// creation stack is then its go statement's frame.
TEST_F(Attach, DefaultProbesNoCreationAndCountsExactly) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  for (const testing::TestBinary* b :
       {testing::OldestBuild(bins, "leaker", "plain"), testing::NewestBuild(bins, "leaker", "stripped")}) {
    ASSERT_TRUE(b);
    SCOPED_TRACE(testing::TestBinaryLabel(*b));
    std::string tag = "default-" + b->go_version + "-" + b->variant;
    std::string untraced = UntracedOutput(b->path, dir_ + "/untraced-" + tag);
    std::string out = TraceLeaker(*b, dir_, tag, {}, untraced);
    ExpectExactCounts(out, testing::ParseGoVersion(b->go_version).minor >= 23);
    json summary = json::parse(Slurp(out + "/summary.json"));
    EXPECT_EQ(summary["creation_probes"], "on-growth");
    EXPECT_TRUE(summary["creation_probes_on_since_seconds"].is_null()) << summary.dump();
    EXPECT_EQ(summary["goroutine_probes"], 0) << summary.dump();
    const json top = json::parse(Slurp(out + "/leaks.json"))["suspects"][0];
    EXPECT_EQ(top["creation_stack"].size(), 1u) << top.dump();
  }
}

// A leak that keeps growing turns the creation probes on after three
// snapshots (2 s apart) and the suspect group gets its whole creation stack
// from the goroutines created since; --creations off never probes.
TEST_F(Attach, CreationProbesGoOnWhenTheLeakGrows) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  for (const testing::TestBinary* b :
       {testing::OldestBuild(bins, "agentprog", "stripped"), testing::NewestBuild(bins, "agentprog", "plain")}) {
    ASSERT_TRUE(b);
    SCOPED_TRACE(testing::TestBinaryLabel(*b));
    // One release is enough to show that off stays off.
    const bool oldest = b == testing::OldestBuild(bins, "agentprog", "stripped");
    for (const char* mode : {"on-growth", "off"}) {
      if (!oldest && std::string(mode) == "off") continue;
      SCOPED_TRACE(mode);
      std::string tag = std::string(mode) + "-" + b->go_version + "-" + b->variant;
      std::string prog_out = dir_ + "/prog-" + tag, gs_err = dir_ + "/goscope-" + tag, out = dir_ + "/out-" + tag;
      Proc prog({b->path, "grow", "10"}, prog_out);  // 10 more blocked goroutines every 500 ms
      ASSERT_TRUE(WaitFor(prog_out, "growing"));
      Proc gs({GOSCOPE_BINARY, "attach", "-p", std::to_string(prog.pid()), "-o", out, "--duration", "10",
               "--creations", mode},
              gs_err, true);
      ASSERT_EQ(gs.Wait(), 0) << Slurp(gs_err);
      kill(prog.pid(), SIGKILL);
      prog.Wait();
      json summary = json::parse(Slurp(out + "/summary.json"));
      EXPECT_EQ(summary["creation_probes"], mode);
      // 10 s at 20 a second, less the moments around the ends.
      EXPECT_GE(summary["goroutines_created"].get<int>(), 150) << summary.dump();
      EXPECT_EQ(summary["goroutines_exited"], 0) << summary.dump();
      const json top = json::parse(Slurp(out + "/leaks.json"))["suspects"][0];
      EXPECT_TRUE(StackHas(top["creation_stack"], "main.leakOne")) << top.dump();
      if (std::string(mode) == "off") {
        EXPECT_TRUE(summary["creation_probes_on_since_seconds"].is_null()) << summary.dump();
        EXPECT_EQ(summary["goroutine_probes"], 0) << summary.dump();
        EXPECT_FALSE(StackHas(top["creation_stack"], "main.main")) << top.dump();
        continue;
      }
      // Three growing snapshots 2 s apart, the first of them the one taken at
      // the start if the leak had 20 goroutines by then: on at 4-8 s.
      ASSERT_TRUE(summary["creation_probes_on_since_seconds"].is_number()) << summary.dump();
      EXPECT_GE(summary["creation_probes_on_since_seconds"].get<double>(), 3.5);
      EXPECT_LE(summary["creation_probes_on_since_seconds"].get<double>(), 9);
      EXPECT_NE(summary["creation_probes_why"].get<std::string>().find("grew in 3 snapshots"), std::string::npos);
      EXPECT_NE(Slurp(gs_err).find("creation probes on"), std::string::npos) << Slurp(gs_err);
      EXPECT_GT(summary["goroutine_probes"].get<int>(), 0) << summary.dump();
      EXPECT_TRUE(StackHas(top["creation_stack"], "main.main")) << top.dump();
    }
  }
}

TEST_F(Attach, EndsAndWritesWhenTheTargetExits) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto bins = testing::LoadTestBinaries();
  auto it = std::find_if(bins.begin(), bins.end(), [](const auto& b) { return b.name == "leaker"; });
  ASSERT_NE(it, bins.end());
  std::string prog_out = dir_ + "/prog.out", gs_err = dir_ + "/goscope.err", out = dir_ + "/out";
  Proc prog({it->path}, prog_out);
  ASSERT_TRUE(WaitFor(prog_out, "ready"));
  Proc gs({GOSCOPE_BINARY, "attach", "-p", std::to_string(prog.pid()), "-o", out}, gs_err, true);
  ASSERT_TRUE(WaitFor(gs_err, "probes live"));
  kill(prog.pid(), SIGTERM);  // the program returns from main
  prog.Wait();
  ASSERT_EQ(gs.Wait(), 0) << Slurp(gs_err);
  json summary = json::parse(Slurp(out + "/summary.json"));
  EXPECT_EQ(summary["target_exited"], true);
  for (const char* f : {"leaks.json", "leaks.txt", "goroutines.pb.gz", "timeline.json"})
    EXPECT_TRUE(testing::FileExists(out + "/" + f)) << f;
}

TEST_F(Attach, RefusesClearly) {
  int rc = 0;
  std::string err;
  RunCommand(std::string(GOSCOPE_BINARY) + " attach -p 999999999", "", &rc, &err);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  RunCommand(std::string(GOSCOPE_BINARY) + " attach -p 1 -o /proc/nope", "", &rc, &err);
  EXPECT_EQ(rc, 1) << err;
}

}  // namespace
}  // namespace goscope
