// The program ends while goscope is attached: "exit 7", an unrecovered panic
// (exit 2), SIGTERM (killed, 143). Its output and exit code must be those of
// an untraced run; goscope must notice by itself, stop, write all its
// outputs, say the process exited, and exit 0 (`attach`) or as the program
// did (`run`, which started it).
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "modes.h"
#include "reliability_binaries.h"
#include "session.h"

namespace goscope::reliability {
namespace {

const Mode& ModeNamed(const std::string& name) {
  for (const auto& m : Modes())
    if (m.name == name) return m;
  throw std::logic_error("modes.h lost mode " + name);
}

class TargetExit : public ::testing::TestWithParam<TestBinary> {};

// Default: the newest toolchain's four variants and the oldest's plain
// binary; GOSCOPE_RELIABILITY_LONG=1: every binary.
bool InDefaultSuite(const TestBinary& b) {
  static const auto all = ReliabilityBinaries();
  const TestBinary* newest = Newest(all, b.variant);
  const TestBinary* oldest = Oldest(all, "plain");
  return (newest && newest->path == b.path) || (oldest && oldest->path == b.path);
}

TEST_P(TargetExit, GoscopeWritesItsOutputsAndReportsTheExit) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const TestBinary& b = GetParam();
  if (!LongRun() && !InDefaultSuite(b)) GTEST_SKIP() << "long suite only: set GOSCOPE_RELIABILITY_LONG=1";
  SCOPED_TRACE(goscope::testing::TestBinaryLabel(b));
  const std::pair<Ending, int> endings[] = {{Ending::kExit7, 7}, {Ending::kPanic, 2}, {Ending::kSigterm, 128 + SIGTERM}};
  // goscope attached to the running program, and goscope running it (the
  // SIGTERM then goes to goscope, which passes it on and dies of it too).
  for (const char* mode_name : {"attach_sampled", "run"}) {
    const Mode& mode = ModeNamed(mode_name);
    for (auto [ending, code] : endings) {
      SCOPED_TRACE(std::string(mode_name) + ", ending: " + EndingName(ending));
      SessionOptions opts;
      opts.ending = ending;
      opts.end_under_goscope = true;
      SessionResult plain = RunSession(b.path, nullptr, opts);
      ASSERT_TRUE(plain.problems.empty()) << ::testing::PrintToString(plain.problems);
      ASSERT_EQ(plain.exit_code, code) << "untraced: " << plain.program_stderr;
      ASSERT_TRUE(SelfCheck(plain.transcript).empty()) << plain.transcript;

      SessionResult traced = RunSession(b.path, &mode, opts);
      EXPECT_TRUE(traced.problems.empty()) << ::testing::PrintToString(traced.problems);
      EXPECT_EQ(traced.transcript, plain.transcript) << traced.goscope_stderr;  // no "rate" in this script
      EXPECT_EQ(traced.exit_code, code) << traced.program_stderr;
      if (ending == Ending::kPanic) {
        EXPECT_NE(traced.program_stderr.find("panic: reliability: panic requested on stdin"), std::string::npos)
            << traced.program_stderr;
      }
      if (mode.kind == ModeKind::kAttach) {
        EXPECT_EQ(traced.goscope_exit, 0) << traced.goscope_stderr;
      }
      EXPECT_NE(traced.goscope_stderr.find("exited; probes detached"), std::string::npos) << traced.goscope_stderr;
      for (const auto& f : mode.outputs) {
        EXPECT_TRUE(NonEmptyFile(traced.out_dir + "/" + f)) << "goscope did not write " << f << "\n"
                                                            << traced.goscope_stderr;
      }
      auto summary = nlohmann::json::parse(ReadFile(traced.out_dir + "/summary.json"), nullptr, false);
      ASSERT_FALSE(summary.is_discarded()) << "summary.json is not JSON";
      EXPECT_EQ(summary.value("target_exited", false), true) << summary.dump(2);
      EXPECT_NE(summary.value("ended_because", std::string()).find("exited"), std::string::npos) << summary.dump(2);
      if (mode.kind == ModeKind::kAttach) {
        // attach -p probes no creation unless leaks grow: what the process
        // created after goscope's last snapshot died with it, and the summary says so.
        EXPECT_EQ(summary.value("goroutine_counts", std::string()),
                  "goroutine ids in memory at the last snapshot (the process exited after it)")
            << summary.dump(2);
      } else {
        EXPECT_GT(summary.value("goroutines_created", 0), 0) << summary.dump(2);  // every creation probed
      }
      if (!HasFailure()) std::filesystem::remove_all(traced.out_dir);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Reliability, TargetExit, ::testing::ValuesIn(ReliabilityBinaries()),
                         [](const ::testing::TestParamInfo<TestBinary>& info) { return ShortLabel(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TargetExit);

}  // namespace
}  // namespace goscope::reliability
