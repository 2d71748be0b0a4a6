// goscope retain against memory whose retainers are known by construction:
// retainprog holds a global map of records, a chain through a struct field
// from a global, and a slice a parked goroutine's local keeps; it prints the
// bytes each root must retain. The profile is read back with `go tool pprof`
// (the toolchain that built the program): each root's cumulative bytes within
// 1% of the figure, on every release, plain and stripped. Also the refusals.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "child.h"
#include "heap_test_util.h"
#include "prometheus_server.h"
#include "temp_dir.h"
#include "tool_required.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::Child;
using testing::ProcessState;
using testing::ChildOptions;
using testing::Io;

// "expect ROOT BYTES" lines up to "ready".
std::map<std::string, uint64_t> Expected(Child& prog) {
  std::map<std::string, uint64_t> out;
  while (std::optional<std::string> line = prog.NextLine(testing::kStdout, 20000)) {
    if (*line == "ready") return out;
    std::istringstream in(*line);
    std::string word, root;
    uint64_t bytes = 0;
    if (in >> word >> root >> bytes && word == "expect") out[root] = bytes;
  }
  ADD_FAILURE() << "no ready line: " << prog.err();
  return out;
}

// Node name -> cumulative bytes, from `pprof -top -cum -unit=B -nodefraction=0`.
std::map<std::string, uint64_t> CumulativeBytes(const std::string& top) {
  static const std::regex row(R"re(^\s*\S+\s+\S+%\s+\S+%\s+(\d+)B\s+\S+%\s+(.+)$)re");
  std::map<std::string, uint64_t> out;
  std::istringstream in(top);
  std::smatch m;
  for (std::string l; std::getline(in, l);)
    if (std::regex_match(l, m, row)) out[m[2]] = std::stoull(m[1]);
  return out;
}

bool Within(uint64_t got, uint64_t want) { return got >= want && got <= want + want / 100; }

TEST(Retention, AttributesKnownBytesToTheirRootsOnEveryRelease) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "retainprog") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    const int minor = testing::ParseGoVersion(b.go_version).minor;
    const bool stripped = b.variant == "stripped";
    Child prog({b.path}, ChildOptions{.in = Io::kPipe});
    const std::map<std::string, uint64_t> expected = Expected(prog);
    ASSERT_EQ(expected.size(), 3u) << prog.out();

    testing::TempDir dir("retain");
    const std::string profile = dir.path() + "/retain.pb.gz";
    Child retain({heaptest::GoscopeBinary(), "retain", "-p", std::to_string(prog.pid()), "-o", profile, "--top", "5"});
    ASSERT_EQ(retain.Wait(60000), 0) << retain.err();
    EXPECT_NE(retain.out().find("stopped"), std::string::npos) << retain.out();
    EXPECT_NE(ProcessState(prog.pid()), 't') << "the process must run on";

    const testing::GoToolchain* tc = testing::ToolchainFor(b.go_version);
    ASSERT_NE(tc, nullptr);
    int rc = -1;
    const std::string top = testing::RunCommand("PPROF_TMPDIR=/tmp " + testing::GoEnvPrefix() + tc->Tool("pprof") +
                                                    " -top -cum -unit=B -nodecount=100000 -nodefraction=0 " + testing::ShellQuote(profile),
                                                "", &rc);
    ASSERT_EQ(rc, 0) << top;
    const std::map<std::string, uint64_t> cum = CumulativeBytes(top);

    // The goroutine's frame is named from the pclntab, stripped or not.
    const uint64_t stack_bytes = expected.at("main.holdSlice");
    auto frame = cum.find("main.holdSlice (frame)");
    ASSERT_NE(frame, cum.end()) << top;
    EXPECT_TRUE(Within(frame->second, stack_bytes)) << frame->second << " vs " << stack_bytes;
    // Globals by their symbols; a stripped binary's by address: then the two
    // figures must each be one global's.
    for (const std::string root : {"main.records", "main.holder"}) {
      const uint64_t want = expected.at(root);
      if (!stripped) {
        ASSERT_TRUE(cum.count(root)) << root << "\n" << top;
        EXPECT_TRUE(Within(cum.at(root), want)) << root << ": " << cum.at(root) << " vs " << want;
        continue;
      }
      int globals = 0;
      for (const auto& [name, bytes] : cum)
        if (name.starts_with("global 0x") && Within(bytes, want)) globals++;
      EXPECT_EQ(globals, 1) << root << " (" << want << " bytes)\n" << top;
    }
    // With DWARF the chains name fields, on every release; from go1.22 the
    // runtime records the types of objects with pointers over 512 bytes,
    // which Record and Inner are, stripped or not; before, none.
    if (!stripped) {
      for (const char* field : {"main.Outer.inner", "main.Inner.data", "main.Record.payload"})
        EXPECT_TRUE(cum.count(field)) << field << "\n" << top;
    } else {
      EXPECT_NE(retain.out().find("no DWARF: chains without field names"), std::string::npos) << retain.out();
    }
    if (minor >= 22) {
      EXPECT_TRUE(cum.count("main.Record")) << top;
      EXPECT_TRUE(cum.count("main.Inner")) << top;
    } else {
      EXPECT_NE(retain.out().find("records no object types"), std::string::npos) << retain.out();
    }
    prog.CloseStdin();
    EXPECT_EQ(prog.Wait(20000), 0) << "it runs on and exits when its input closes";
    checked++;
  }
  EXPECT_EQ(checked, 2 * 8) << "retainprog plain and stripped from every toolchain";
}

TEST(Retention, RefusesBadInputAndLetsTheProcessGo) {
  const auto bins = testing::LoadTestBinaries();
  const std::string goscope = heaptest::GoscopeBinary();
  testing::TempDir dir("retain-refusals");

  Child gone({goscope, "retain", "-p", "999999999", "-o", dir.path() + "/gone.pb.gz"});
  EXPECT_EQ(gone.Wait(), 1);
  EXPECT_NE(gone.err().find("not found"), std::string::npos) << gone.err();

  Child sleeper({"/bin/sleep", "30"});
  Child not_go({goscope, "retain", "-p", std::to_string(sleeper.pid()), "-o", dir.path() + "/sleep.pb.gz"});
  EXPECT_EQ(not_go.Wait(), 1);
  EXPECT_FALSE(not_go.err().empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/sleep.pb.gz"));

  const testing::TestBinary* b = testing::NewestBuild(bins, "bigheap", "stripped");
  ASSERT_TRUE(b);
  Child prog({b->path, "-mib", "100"}, ChildOptions{.in = Io::kPipe});
  ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 60000)) << prog.err();
  const std::string pid = std::to_string(prog.pid());
  Child bad({goscope, "retain", "-p", pid, "--depth", "0"});
  EXPECT_EQ(bad.Wait(), 2) << bad.err();
  // 100 MiB take about 60 ms to read here: 5 ms is too little.
  const std::string profile = dir.path() + "/limited.pb.gz";
  Child limited({goscope, "retain", "-p", pid, "--max-pause", "5", "-o", profile});
  EXPECT_EQ(limited.Wait(60000), 1);
  EXPECT_NE(limited.err().find("gave up after"), std::string::npos) << limited.err();
  EXPECT_NE(limited.err().find("the process runs on"), std::string::npos) << limited.err();
  EXPECT_FALSE(std::filesystem::exists(profile)) << "nothing is written when nothing was concluded";
  EXPECT_NE(ProcessState(prog.pid()), 't');
  // A profile that cannot be written: the reading is lost, the process is not.
  Child unwritable({goscope, "retain", "-p", pid, "-o", "/nonexistent-dir/retain.pb.gz"});
  EXPECT_EQ(unwritable.Wait(60000), 1);
  EXPECT_NE(unwritable.err().find("/nonexistent-dir/retain.pb.gz"), std::string::npos) << unwritable.err();
  EXPECT_NE(ProcessState(prog.pid()), 't');
  prog.CloseStdin();
  EXPECT_EQ(prog.Wait(20000), 0);
}

// The heap as its own runtime counts it, from a Go server's /metrics.
double HeapAllocBytes(uint16_t port) {
  auto reply = testing::PrometheusServer::HttpGet(port, "/metrics", std::chrono::milliseconds(10000));
  std::smatch m;
  static const std::regex line(R"re(\ngo_memstats_heap_alloc_bytes (\S+)\n)re");
  return reply.status == 200 && std::regex_search(reply.body, m, line) ? std::stod(m[1]) : -1;
}

// Debian's prometheus (go1.19, stripped), serving: what goscope finds
// reachable is at most what its runtime says is allocated (live objects are
// a part of it) and not far below; the roots are named as a stripped binary
// allows; go tool pprof reads the profile; the server answers after.
TEST(Retention, ReadsARealServerWhichServesOn) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  testing::PrometheusServer prom({.target = "127.0.0.1:9"});
  testing::TempDir dir("retain-prometheus");
  const std::string profile = dir.path() + "/prometheus.pb.gz";
  const double before = HeapAllocBytes(prom.port());
  Child retain({heaptest::GoscopeBinary(), "retain", "-p", std::to_string(prom.pid()), "-o", profile, "--top", "30"});
  ASSERT_EQ(retain.Wait(60000), 0) << retain.err();
  const double after = HeapAllocBytes(prom.port());
  ASSERT_GT(before, 0);
  ASSERT_GT(after, 0);

  ASSERT_FALSE(testing::InstalledGoToolchains().empty());
  const testing::GoToolchain* tc = &testing::InstalledGoToolchains().back();
  int rc = -1;
  const std::string top = testing::RunCommand("PPROF_TMPDIR=/tmp " + testing::GoEnvPrefix() + tc->Tool("pprof") +
                                                  " -top -unit=B -nodecount=100000 -nodefraction=0 " + testing::ShellQuote(profile) + " 2>&1",
                                              "", &rc);
  ASSERT_EQ(rc, 0) << top;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(top, m, std::regex(R"(of (\d+)B total)"))) << top;
  const double reachable = std::stod(m[1]);
  EXPECT_LE(reachable, std::max(before, after) * 1.1 + (2 << 20)) << before << " " << after;
  EXPECT_GE(reachable, std::min(before, after) * 0.25) << before << " " << after;
  EXPECT_NE(top.find(" (frame)\n"), std::string::npos) << "goroutines' frames, named by the pclntab";
  EXPECT_NE(top.find(" global 0x"), std::string::npos) << "stripped: globals by address\n" << retain.out();
  EXPECT_EQ(testing::PrometheusServer::HttpGet(prom.port(), "/-/ready", std::chrono::milliseconds(10000)).status, 200);
}

// The kernel still kills a stopped process: a SIGKILL that lands while goscope
// reads the heap leaves it with a partial reading, which must not be reported
// (by retain, or by leaks: they stop the process alike).
TEST(Retention, AProcessKilledWhileReadIsRefusedNotReported) {
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "bigheap", "stripped");
  ASSERT_TRUE(b);
  testing::TempDir dir("retain-killed");
  for (const std::string command : {"retain", "leaks"}) {
    SCOPED_TRACE(command);
    Child prog({b->path, "-mib", "300"}, ChildOptions{.in = Io::kPipe});
    ASSERT_TRUE(prog.WaitForLine(testing::kStdout, "ready", 60000)) << prog.err();
    const std::string out = dir.path() + "/killed-" + command;
    Child reader({heaptest::GoscopeBinary(), command, "-p", std::to_string(prog.pid()), "-o", out});
    // Reading 300 MiB takes about 0.2 s here: kill it once goscope has stopped it.
    bool stopped = false;
    for (int i = 0; i < 50000 && !stopped; i++) {
      stopped = ProcessState(prog.pid()) == 't';
      if (!stopped) usleep(100);
    }
    ASSERT_TRUE(stopped) << "goscope never stopped the process: " << reader.err();
    prog.Kill(SIGKILL);
    EXPECT_EQ(reader.Wait(60000), 1) << reader.out();
    EXPECT_NE(reader.err().find("exited while it was being read; nothing was concluded"), std::string::npos)
        << reader.err();
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

}  // namespace
}  // namespace goscope
