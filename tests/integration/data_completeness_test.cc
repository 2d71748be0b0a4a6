// Data complete, or the loss counted: a goroutine storm through a ring buffer
// far too small for it. Every goroutine the program creates is one creation
// event (and one exit event with --exit-times), so what goscope saw plus what
// the BPF side counted as dropped must equal the program's own count (twice
// it), exactly; and the counts from the goroutine ids in memory are whole.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "testbin.h"

namespace goscope {
namespace {

using heaptest::Child;

// Runs agentprog churn through a 16 KiB ring buffer; the summary.
nlohmann::json ChurnThroughATinyRing(const testing::TestBinary& b, int goroutines, bool exit_times) {
  const std::string label = testing::TestBinaryLabel(b) + (exit_times ? " --exit-times" : "");
  Child prog({b.path, "churn", std::to_string(goroutines)}, {.in = testing::Io::kPipe});
  EXPECT_TRUE(prog.WaitFor(0, "agentprog: ready").has_value()) << label << prog.err();
  heaptest::TempDir dir;
  std::vector<std::string> argv = {GOSCOPE_BINARY, "attach", "-p", std::to_string(prog.pid()), "--alloc-mode", "off",
                                   "--ring-size", "16384", "-o", dir.path()};
  argv.push_back(exit_times ? "--exit-times" : "--creations=always");
  Child gs(argv);
  EXPECT_TRUE(gs.WaitFor(1, "probes live").has_value()) << label << gs.err();
  prog.Write("go\n");
  EXPECT_TRUE(prog.WaitFor(0, "agentprog: churned", 120000).has_value()) << label << prog.err();
  gs.Signal(SIGINT);
  EXPECT_EQ(gs.Wait(60000), 0) << label << gs.err();
  EXPECT_NE(gs.err().find("events were dropped"), std::string::npos) << gs.err();
  std::ifstream f(dir.path() + "/summary.json");
  return nlohmann::json::parse(f, nullptr, false);
}

TEST(EventLoss, DroppedEventsAreCountedExactly) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  int tested = 0;
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* newest = testing::NewestBuild(bins, "agentprog", "plain");
  ASSERT_NE(newest, nullptr);
  for (const auto& b : bins) {
    // The oldest release (entry sites on the stack check's branch) and the newest.
    if (b.name != "agentprog" || b.variant != "plain") continue;
    if (!b.go_version.starts_with("go1.19") && b.path != newest->path) continue;
    const std::string label = testing::TestBinaryLabel(b);
    constexpr int kGoroutines = 200000;
    for (bool exit_times : {false, true}) {
      nlohmann::json s = ChurnThroughATinyRing(b, kGoroutines, exit_times);
      ASSERT_TRUE(s.is_object()) << label;
      uint64_t created = s["creation_events"], exited = s["exit_events"], lost = s["events_lost"];
      EXPECT_GT(lost, 1000u) << label << ": the storm should overflow a 16 KiB ring buffer";
      if (exit_times) {
        EXPECT_EQ(created + exited + lost, 2u * kGoroutines)
            << label << " created " << created << " exited " << exited << " lost " << lost;
        EXPECT_EQ(s["exits"], "probed");
      } else {
        EXPECT_EQ(created + lost, uint64_t{kGoroutines}) << label << " created " << created << " lost " << lost;
        EXPECT_EQ(exited, 0u);
        EXPECT_EQ(s["exits"], "inferred from goroutine snapshots");
      }
      // Whatever the probes lost, the counts from the goroutine ids are whole.
      EXPECT_EQ(s["goroutines_created"], kGoroutines) << label;
      EXPECT_EQ(s["goroutines_exited"], kGoroutines) << label;
      EXPECT_TRUE(s["partial"].get<bool>()) << label;
    }
    tested++;
  }
  EXPECT_EQ(tested, 2) << "agentprog go1.19 and newest plain missing from the manifest";
}

// The target execs another program mid-trace: goscope notices, ends the run,
// writes what it saw, and writes nothing into the new program.
TEST(EventLoss, TargetThatExecsAnotherProgramEndsTheRunWithOutputs) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  for (const auto& b : bins) {
    if (&b != testing::NewestBuild(bins, "agentprog", "stripped")) continue;
    Child prog({b.path, "exec"}, {.in = testing::Io::kPipe});
    ASSERT_TRUE(prog.WaitFor(0, "agentprog: ready").has_value()) << prog.err();
    heaptest::TempDir dir;
    Child gs({GOSCOPE_BINARY, "attach", "-p", std::to_string(prog.pid()), "-o", dir.path()});
    ASSERT_TRUE(gs.WaitFor(1, "probes live").has_value()) << gs.err();
    prog.Write("go\n");
    EXPECT_EQ(gs.Wait(20000), 0) << gs.err();  // ends by itself: no signal sent
    std::ifstream f(dir.path() + "/summary.json");
    nlohmann::json s = nlohmann::json::parse(f, nullptr, false);
    ASSERT_TRUE(s.is_object()) << gs.err();
    EXPECT_NE(s["ended_because"].get<std::string>().find("exec'd another program"), std::string::npos) << s.dump(1);
    EXPECT_TRUE(s["partial"].get<bool>());
    EXPECT_FALSE(s.value("memprofilerate_restored", true)) << "nothing may be written into the new program";
    EXPECT_EQ(prog.Wait(10000), 0) << "sleep, the new program, ran to its end";
    return;
  }
  FAIL() << "agentprog stripped missing from the manifest";
}

}  // namespace
}  // namespace goscope
