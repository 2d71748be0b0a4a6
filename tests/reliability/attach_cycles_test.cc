// Attach and detach again and again on one running program (-loop): each
// cycle is a full `goscope attach` that ends by SIGINT, most right after
// "probes live" (detaching while the probes are fresh, mid-workload), every
// tenth after a second of tracing. The program must never die, every block
// it prints must be right, its MemProfileRate must be its own again after
// every cycle, and at the end the kernel must list no uprobe on it.
//
// Two programs: one whose MemProfileRate is 0 (goscope writes its rate and
// must write 0 back) and one that set its own rate (goscope must not touch it).
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "bpf_required.h"
#include "loop_watcher.h"
#include "probes_left.h"
#include "reliability_binaries.h"
#include "session.h"

namespace goscope::reliability {
namespace {

int Cycles() { return LongRun() ? 1000 : 100; }

void AttachDetachCycles(const TestBinary& b, const std::vector<std::string>& program_args, long long own_rate) {
  SCOPED_TRACE(goscope::testing::TestBinaryLabel(b));
  const std::string block = UntracedBlock(b.path, program_args);
  ASSERT_TRUE(SelfCheck(block).empty()) << "untraced run is not a usable oracle:\n" << block;

  std::vector<std::string> argv = {b.path, "-loop"};
  argv.insert(argv.end(), program_args.begin(), program_args.end());
  Process program(argv, kTargetEnv);
  auto ready = program.NextLine(kStdout, kStartMs);
  ASSERT_TRUE(ready && ready->rfind("ready ", 0) == 0) << program.Output(kStderr);
  const pid_t pid = program.pid();
  LoopWatcher watch(program, block);
  ASSERT_EQ(watch.Rate(), own_rate);

  const std::string out = MakeTempDir("cycles");
  const int cycles = Cycles();
  int traced_a_second = 0, rate_excused = 0;
  std::set<pid_t> ours;  // every goscope this test started
  std::set<std::string> foreign;
  for (int i = 0; i < cycles; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i + 1) + " of " + std::to_string(cycles));
    Process tool({GoscopeBinary(), "attach", "-p", std::to_string(pid), "-o", out, "--alloc-mode", "sampled"});
    ours.insert(tool.pid());
    ASSERT_TRUE(tool.WaitForLine(kStderr, "probes live", kProbesLiveMs))
        << "exit " << tool.Wait(kExitMs) << ": " << tool.Output(kStderr);
    if (i == 0) {
      // The probe listing below can fail: here it must see goscope's probes.
      ProbeListing during = UprobesOn(pid, b.path);
      ASSERT_TRUE(during.ok) << during.error;
      EXPECT_FALSE(OwnProbes(during, {tool.pid()}, pid).empty())
          << "bpftool lists no uprobe of goscope's on the program while it is attached";
    }
    if (i % 10 == 9) {
      watch.PumpFor(1000);
      traced_a_second++;
    }
    tool.Signal(SIGINT);
    int rc = tool.Wait(kExitMs);
    ASSERT_EQ(rc, 0) << tool.Output(kStderr);
    ASSERT_FALSE(program.Exited()) << "the program died (exit " << program.exit_code() << "):\n"
                                   << program.Output(kStderr);
    // Another goscope on the program (a node-wide agent) may hold the rate
    // it wrote: then this cycle's rate says nothing about ours.
    auto before = ForeignOn(pid, b.path, ours);
    auto rate = watch.Rate();
    auto after = ForeignOn(pid, b.path, ours);
    if (before.empty() && after.empty()) {
      ASSERT_EQ(rate, own_rate) << "MemProfileRate not restored; goscope said:\n" << tool.Output(kStderr);
    } else {
      rate_excused++;
      foreign.insert(before.begin(), before.end());
      foreign.insert(after.begin(), after.end());
    }
    watch.Pump();
    ASSERT_TRUE(watch.errors().empty()) << watch.errors().front();
  }
  // Still working, and right, after the last detach.
  const int before = watch.blocks();
  EXPECT_TRUE(watch.WaitForBlocks(before + 2, kWorkloadMs)) << program.Output(kStderr);
  EXPECT_TRUE(watch.errors().empty()) << (watch.errors().empty() ? "" : watch.errors().front());
  ProbeListing left = UprobesOn(pid, b.path);
  ASSERT_TRUE(left.ok) << left.error;
  EXPECT_TRUE(OwnProbes(left, ours, pid).empty()) << ::testing::PrintToString(OwnProbes(left, ours, pid));
  if (ForeignOn(pid, b.path, ours).empty()) {
    EXPECT_EQ(watch.Rate(), own_rate);
  }
  ::testing::Test::RecordProperty("cycles", cycles);
  ::testing::Test::RecordProperty("blocks_checked", watch.blocks());
  std::printf("  %d cycles (%d traced for 1 s), %d blocks checked, all right\n", cycles, traced_a_second,
              watch.blocks());
  if (rate_excused > 0) {
    std::printf("  NOTE: MemProfileRate not checked after %d cycles: another tracer was on the program: %s\n",
                rate_excused, ::testing::PrintToString(foreign).c_str());
  }
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(out);
}

TEST(AttachDetachCycles, ProgramWithRateZeroGetsZeroBack) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto all = ReliabilityBinaries();
  const TestBinary* b = Newest(all, "plain");
  ASSERT_NE(b, nullptr) << "no reliability binaries in the manifest";
  AttachDetachCycles(*b, {}, 0);
}

// A program with a rate of its own (runtime.MemProfileRate set in main):
// stripped and of the oldest toolchain, where goscope finds MemProfileRate by
// disassembly, not DWARF.
TEST(AttachDetachCycles, ProgramWithItsOwnRateKeepsIt) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto all = ReliabilityBinaries();
  const TestBinary* b = Oldest(all, "stripped");
  ASSERT_NE(b, nullptr) << "no reliability binaries in the manifest";
  AttachDetachCycles(*b, {"-memprofilerate", "65536"}, 65536);
}

}  // namespace
}  // namespace goscope::reliability
