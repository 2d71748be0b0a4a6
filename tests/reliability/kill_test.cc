// goscope SIGKILLed at random moments while it attaches or traces a running
// program (-loop): loading, attaching probes, writing MemProfileRate,
// draining events. The program must go on, its next blocks must be right,
// and no probe may remain: the kernel removes uprobes with the file
// descriptors of the process that made them.
//
// What a SIGKILL cannot undo: goscope writes MemProfileRate back when it
// stops, and a killed goscope does not stop. After a kill that came once
// the rate was written, the program keeps goscope's rate (524288; it costs
// the program Go's ordinary sampling overhead, nothing else). The test pins
// that down (docs/RELIABILITY.md).
//
// Delays are drawn from a seeded generator: GOSCOPE_RELIABILITY_SEED=N
// repeats a run (the seed is printed).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "bpf_required.h"
#include "loop_watcher.h"
#include "probes_left.h"
#include "reliability_binaries.h"
#include "session.h"

namespace goscope::reliability {
namespace {

constexpr long long kGoscopeDefaultHeapRate = 524288;

unsigned Seed() {
  const char* s = std::getenv("GOSCOPE_RELIABILITY_SEED");
  return s && *s ? static_cast<unsigned>(std::strtoul(s, nullptr, 10)) : 20250101u;
}

// Polls the kernel's probe listing until none of the test's goscopes' uprobes
// is left on the program (release runs when goscope's fds close, which a
// reaped process has done; the poll only tolerates a slow bpftool) or
// timeout_ms passes. Returns what is left.
std::vector<std::string> WaitForNoOwnUprobes(pid_t pid, const std::string& path, const std::set<pid_t>& ours,
                                             int timeout_ms, std::string* error) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    ProbeListing l = UprobesOn(pid, path);
    if (!l.ok) {
      *error = l.error;
      return {};
    }
    auto own = OwnProbes(l, ours, pid);
    if (own.empty() || std::chrono::steady_clock::now() > end) return own;
    ::usleep(100000);
  }
}

TEST(KillGoscope, ProgramSurvivesSigkillAtRandomMoments) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto all = ReliabilityBinaries();
  const TestBinary* b = Newest(all, "cgo");
  ASSERT_NE(b, nullptr) << "no reliability binaries in the manifest";
  SCOPED_TRACE(goscope::testing::TestBinaryLabel(*b));
  const std::string block = UntracedBlock(b->path);
  ASSERT_TRUE(SelfCheck(block).empty()) << "untraced run is not a usable oracle:\n" << block;

  Process program({b->path, "-loop"}, kTargetEnv);
  auto ready = program.NextLine(kStdout, kStartMs);
  ASSERT_TRUE(ready && ready->rfind("ready ", 0) == 0) << program.Output(kStderr);
  const pid_t pid = program.pid();
  LoopWatcher watch(program, block);
  ASSERT_EQ(watch.Rate(), 0);

  const unsigned seed = Seed();
  const int cycles = LongRun() ? 200 : 20;
  std::printf("  seed %u (GOSCOPE_RELIABILITY_SEED), %d cycles\n", seed, cycles);
  ::testing::Test::RecordProperty("seed", static_cast<int>(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(0, 1500);
  const std::string out = MakeTempDir("kill");
  int killed_live = 0, killed_early = 0;
  std::set<pid_t> ours;
  for (int i = 0; i < cycles; ++i) {
    const int delay = delay_ms(rng);
    SCOPED_TRACE("cycle " + std::to_string(i + 1) + ", SIGKILL after " + std::to_string(delay) + " ms");
    Process tool({GoscopeBinary(), "attach", "-p", std::to_string(pid), "-o", out, "--alloc-mode", "sampled"});
    ours.insert(tool.pid());
    watch.PumpFor(delay);
    const bool live = tool.Output(kStderr).find("probes live") != std::string::npos;
    tool.Signal(SIGKILL);
    const int rc = tool.Wait(kExitMs);
    ASSERT_EQ(rc, 128 + SIGKILL) << "goscope ended before the kill:\n" << tool.Output(kStderr);
    (live ? killed_live : killed_early)++;

    ASSERT_FALSE(program.Exited()) << "the program died (exit " << program.exit_code() << "):\n"
                                   << program.Output(kStderr);
    // The block under way at the kill, and the next one, entirely after it.
    const int want = watch.blocks() + 2;
    ASSERT_TRUE(watch.WaitForBlocks(want, kWorkloadMs)) << "the program stopped printing blocks after the kill:\n"
                                                        << program.Output(kStderr);
    ASSERT_TRUE(watch.errors().empty()) << watch.errors().front();
    std::string error;
    auto left = WaitForNoOwnUprobes(pid, b->path, ours, 5000, &error);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_TRUE(left.empty()) << "uprobes outlived the killed goscope: " << ::testing::PrintToString(left);
  }
  // The rate goscope wrote stays once a kill came after the write (it is
  // written before "probes live" is printed); before any such kill it is 0
  // or, if a kill fell between the write and the message, goscope's.
  auto foreign = ForeignOn(pid, b->path, ours);
  auto rate = watch.Rate();
  ASSERT_TRUE(rate.has_value());
  if (!foreign.empty() || !ForeignOn(pid, b->path, ours).empty()) {
    std::printf("  NOTE: another tracer is on the program, its MemProfileRate (%lld) is not checked: %s\n", *rate,
                ::testing::PrintToString(foreign).c_str());
  } else if (killed_live > 0) {
    EXPECT_EQ(*rate, kGoscopeDefaultHeapRate);
  } else {
    EXPECT_TRUE(*rate == 0 || *rate == kGoscopeDefaultHeapRate) << *rate;
  }
  std::printf("  %d kills while tracing, %d while attaching; %d blocks checked, all right; MemProfileRate now %lld\n",
              killed_live, killed_early, watch.blocks(), *rate);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace goscope::reliability
