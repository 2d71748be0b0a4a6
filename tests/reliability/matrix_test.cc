// Every reliability binary (each installed toolchain x plain, stripped, pie,
// cgo) runs its workload untraced and then under each goscope mode (modes.h);
// the program's stdout and exit code must be identical. The untraced run is
// itself checked first: it must be complete and self-consistent, and every
// binary must print the same block (Oracle), or the comparison means nothing.
#include <unistd.h>

#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "bpf_required.h"
#include "modes.h"
#include "reliability_binaries.h"
#include "session.h"

namespace goscope::reliability {
namespace {

struct Case {
  TestBinary binary;
  const Mode* mode;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << goscope::testing::TestBinaryLabel(c.binary) << " under " << c.mode->name;
}

std::vector<Case> MatrixCases() {
  std::vector<Case> cases;
  for (const auto& b : ReliabilityBinaries())
    for (const auto& m : Modes()) cases.push_back({b, &m});
  return cases;
}

// The default suite runs every mode on the newest toolchain's four variants
// and on the oldest's plain binary, and the main mode (attach, sampled) on
// every binary; GOSCOPE_RELIABILITY_LONG=1 runs all of it.
bool InDefaultSuite(const Case& c) {
  if (c.mode->long_only) return false;
  static const auto all = ReliabilityBinaries();
  if (c.mode->name == "attach_sampled") return true;
  const TestBinary* newest = Newest(all, c.binary.variant);
  const TestBinary* oldest_plain = Oldest(all, "plain");
  return (newest && newest->path == c.binary.path) || (oldest_plain && oldest_plain->path == c.binary.path);
}

// The untraced run of a binary with a script, once per test process.
const SessionResult& Untraced(const std::string& path, const SessionOptions& opts = {}) {
  static std::map<std::pair<std::string, bool>, SessionResult> cache;
  auto key = std::make_pair(path, opts.end_under_goscope);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, RunSession(path, nullptr, opts)).first;
  return it->second;
}

void ExpectUsableOracle(const SessionResult& plain) {
  ASSERT_TRUE(plain.problems.empty()) << ::testing::PrintToString(plain.problems);
  ASSERT_EQ(plain.exit_code, 0) << plain.program_stderr;
  auto bad = SelfCheck(plain.transcript);
  ASSERT_TRUE(bad.empty()) << ::testing::PrintToString(bad) << "\n" << plain.transcript;
}

class Matrix : public ::testing::TestWithParam<Case> {};

TEST_P(Matrix, OutputAndExitCodeUnchanged) {
  const Case& c = GetParam();
  if (c.mode->needs_bpf) {
    GOSCOPE_REQUIRE_BPF_OR_SKIP();
  } else if (::geteuid() != 0) {
    GTEST_SKIP() << c.mode->name << " needs root (ptrace)";
  }
  if (!LongRun() && !InDefaultSuite(c)) GTEST_SKIP() << "long matrix only: set GOSCOPE_RELIABILITY_LONG=1";
  SCOPED_TRACE(goscope::testing::TestBinaryLabel(c.binary) + " under " + c.mode->name);

  SessionOptions script;
  script.end_under_goscope = c.mode->ends_under_goscope;
  const SessionResult& plain = Untraced(c.binary.path, script);
  ExpectUsableOracle(plain);
  if (HasFatalFailure()) return;

  SessionResult traced = RunSession(c.binary.path, c.mode, script);
  EXPECT_TRUE(traced.problems.empty()) << ::testing::PrintToString(traced.problems);
  auto [got, want] = Comparable(traced, plain);
  EXPECT_EQ(got, want) << "the program's output changed under goscope\n"
                                                 << "program stderr:\n" << traced.program_stderr
                                                 << "goscope stderr:\n" << traced.goscope_stderr;
  EXPECT_EQ(traced.exit_code, plain.exit_code) << traced.program_stderr;
  EXPECT_EQ(traced.goscope_exit, 0) << traced.goscope_stderr;
  if (c.mode->kind == ModeKind::kRepeatWhileWorking) {
    EXPECT_GE(traced.goscope_runs, 1);
  }
  for (const auto& f : c.mode->outputs) {
    EXPECT_TRUE(NonEmptyFile(traced.out_dir + "/" + f)) << "goscope did not write " << f << " in " << traced.out_dir
                                                        << "\n" << traced.goscope_stderr;
  }
  if (!HasFailure()) std::filesystem::remove_all(traced.out_dir);
}

INSTANTIATE_TEST_SUITE_P(Reliability, Matrix, ::testing::ValuesIn(MatrixCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return ShortLabel(info.param.binary) + "__" + info.param.mode->name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Matrix);  // no manifest: Manifest fails instead

// The manifest must list the four variants for every installed toolchain:
// otherwise the matrix above silently shrinks.
TEST(Manifest, ListsEveryToolchainAndVariant) {
  auto all = ReliabilityBinaries();
  const auto& toolchains = goscope::testing::InstalledGoToolchains();
  ASSERT_FALSE(toolchains.empty()) << "no Go toolchain at /usr/lib/go-1.*";
  for (const auto& tc : toolchains) {
    for (const char* variant : {"plain", "stripped", "pie", "cgo"}) {
      bool found = false;
      for (const auto& b : all)
        if (b.go_version == tc.version && b.variant == variant) found = goscope::testing::FileExists(b.path);
      EXPECT_TRUE(found) << "no reliability-" << variant << " built with " << tc.version << " in "
                         << goscope::testing::TestBinDir() << "/manifest.tsv; run scripts/build-test-binaries.sh "
                         << goscope::testing::TestBinDir();
    }
  }
}

// The oracle: every binary, untraced, prints the same complete,
// self-consistent block (the workload is deterministic across toolchains,
// variants, iter.Pull and cgo fallbacks), and twice the same.
TEST(Oracle, EveryBinaryPrintsTheSameBlock) {
  auto all = ReliabilityBinaries();
  ASSERT_FALSE(all.empty()) << "no reliability binaries in the manifest";
  const SessionResult& first = Untraced(all.front().path);
  ExpectUsableOracle(first);
  for (const auto& b : all) {
    SCOPED_TRACE(goscope::testing::TestBinaryLabel(b));
    const SessionResult& r = Untraced(b.path);
    ExpectUsableOracle(r);
    auto [got, want] = Comparable(r, first);
    EXPECT_EQ(got, want);
  }
  SessionResult again = RunSession(all.back().path, nullptr);
  auto [got, want] = Comparable(again, first);
  EXPECT_EQ(got, want);
}

// The harness for modes where goscope starts the program (RunLaunched), run
// with a launcher that only execs it: the same transcript and exit codes as
// a direct run, for every ending. When `goscope run` lands, its line in
// modes.h goes through exactly this path.
TEST(LauncherHarness, PassesStdinStdoutAndExitCodeThrough) {
  auto all = ReliabilityBinaries();
  const TestBinary* b = Newest(all, "plain");
  ASSERT_NE(b, nullptr);
  for (Ending e : {Ending::kEof, Ending::kExit7, Ending::kPanic}) {
    SCOPED_TRACE(EndingName(e));
    SessionOptions opts;
    opts.ending = e;
    SessionResult direct = RunSession(b->path, nullptr, opts);
    SessionResult launched = RunLaunched({"/usr/bin/env"}, b->path, opts);
    EXPECT_TRUE(launched.problems.empty()) << ::testing::PrintToString(launched.problems);
    auto [got, want] = Comparable(launched, direct);
    EXPECT_EQ(got, want);
    EXPECT_EQ(launched.exit_code, direct.exit_code);
  }
}

}  // namespace
}  // namespace goscope::reliability
