// goscope run: the init report against GODEBUG=inittrace=1 printed by the same
// process (so both count the very same allocations), on every toolchain and
// variant of tests/go/inittest and on Debian's restic; and the program's own
// output, input, exit status and death by signal unchanged under goscope.
#include <map>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "testbin.h"
#include "tool_required.h"

namespace goscope {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

struct PackageCounts {
  uint64_t allocs = 0, bytes = 0;
  bool operator==(const PackageCounts&) const = default;
};

// "init net/http @1.2 ms, 0.31 ms clock, 4096 bytes, 12 allocs", in order.
std::vector<std::pair<std::string, PackageCounts>> ParseInittrace(const std::string& stderr_text) {
  static const std::regex line(R"(^init (\S+) @\S+ ms, \S+ ms clock, (\d+) bytes, (\d+) allocs$)");
  std::vector<std::pair<std::string, PackageCounts>> out;
  std::istringstream in(stderr_text);
  std::string l;
  std::smatch m;
  while (std::getline(in, l))
    if (std::regex_match(l, m, line)) out.push_back({m[1], {std::stoull(m[3]), std::stoull(m[2])}});
  return out;
}

std::vector<std::pair<std::string, PackageCounts>> ParseInitJson(const nlohmann::json& j) {
  std::vector<std::pair<std::string, PackageCounts>> out;
  for (const auto& p : j["packages"]) out.push_back({p["package"], {p["allocs"], p["bytes"]}});
  return out;
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "missing " << path;
  if (!f) return {};
  return nlohmann::json::parse(f, nullptr, false);
}

// Per package, in order: allocations exact; bytes exact but for one known race:
// goscope reads the P's tiny block at mallocgc's entry, and a goroutine parked
// in between (a GC assist) can let another goroutine fill that block first, so
// one tiny allocation's 16-or-0 bytes flips. Seen once, in a loaded CI run (16
// bytes in one package); any other difference fails.
void ExpectSameCounts(const std::vector<std::pair<std::string, PackageCounts>>& ours,
                      const std::vector<std::pair<std::string, PackageCounts>>& oracle, const std::string& label) {
  ASSERT_EQ(ours.size(), oracle.size()) << label;
  int flipped = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].first, oracle[i].first) << label << ": package #" << i;
    EXPECT_EQ(ours[i].second.allocs, oracle[i].second.allocs) << label << ": " << oracle[i].first << " allocs";
    int64_t diff = static_cast<int64_t>(ours[i].second.bytes) - static_cast<int64_t>(oracle[i].second.bytes);
    if (diff == 0) continue;
    flipped++;
    EXPECT_TRUE(diff == 16 || diff == -16) << label << ": " << oracle[i].first << " bytes " << ours[i].second.bytes
                                           << " vs inittrace " << oracle[i].second.bytes;
  }
  EXPECT_LE(flipped, 1) << label << ": more than one package's tiny accounting differs";
}

// Runs `goscope run` on path with inittrace on and compares package by package, in order.
void ExpectInitMatchesInittrace(const std::string& path, const std::string& args, const std::string& label) {
  heaptest::TempDir dir;
  int rc = -1;
  std::string err;
  std::string cmd = "GODEBUG=inittrace=1 " + ShellQuote(GOSCOPE_BINARY) + " run -q --until main -o " +
                    ShellQuote(dir.path()) + " -- " + ShellQuote(path) + " " + args;
  RunCommand(cmd, "", &rc, &err);
  ASSERT_EQ(rc, 0) << label << ": " << err;
  auto oracle = ParseInittrace(err);
  ASSERT_GT(oracle.size(), 10u) << label << ": no inittrace lines in\n" << err;
  nlohmann::json j = ReadJson(dir.path() + "/init.json");
  ASSERT_TRUE(j.is_object()) << label;
  EXPECT_TRUE(j["complete"].get<bool>()) << label;
  EXPECT_FALSE(j.contains("error")) << label << ": " << j.value("error", "");  // goid at main.main == 1
  auto ours = ParseInitJson(j);
  ASSERT_EQ(ours.size(), oracle.size()) << label << "\n" << j.dump(1);
  ExpectSameCounts(ours, oracle, label);
  uint64_t allocs = 0, our_bytes = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    allocs += oracle[i].second.allocs;
    our_bytes += ours[i].second.bytes;
  }
  EXPECT_EQ(j["init_total"]["allocs"].get<uint64_t>(), allocs) << label;
  EXPECT_EQ(j["init_total"]["bytes"].get<uint64_t>(), our_bytes) << label;
  EXPECT_GE(j["startup"]["allocs"].get<uint64_t>(), allocs) << label;
}

std::vector<testing::TestBinary> InitTestBinaries() {
  std::vector<testing::TestBinary> out;
  for (auto& b : testing::LoadTestBinaries())
    if (b.name == "inittest") out.push_back(b);
  return out;
}

TEST(RunInit, PerPackageCountsEqualInittraceOnEveryToolchainAndVariant) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  auto bins = InitTestBinaries();
  ASSERT_GE(bins.size(), 4u) << "inittest binaries missing from the manifest";
  for (const auto& b : bins) ExpectInitMatchesInittrace(b.path, "", testing::TestBinaryLabel(b));
}

TEST(RunInit, KnownPackagesReportWhatTheirInitAllocated) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  for (const auto& b : InitTestBinaries()) {
    if (b.variant != "stripped") continue;
    const std::string label = testing::TestBinaryLabel(b);
    heaptest::TempDir dir;
    int rc = -1;
    std::string err;
    RunCommand(ShellQuote(GOSCOPE_BINARY) + " run -q --until main -o " + ShellQuote(dir.path()) + " -- " +
                   ShellQuote(b.path),
               "", &rc, &err);
    ASSERT_EQ(rc, 0) << label << err;
    nlohmann::json j = ReadJson(dir.path() + "/init.json");
    std::map<std::string, nlohmann::json> pkg;
    for (const auto& p : j["packages"]) pkg[p["package"]] = p;
    // tables: make([]uint64, 1<<16) is 512 KiB in whole pages, plus Cubes' appends.
    ASSERT_TRUE(pkg.count("goscope.test/inittest/tables")) << label;
    EXPECT_GE(pkg["goscope.test/inittest/tables"]["bytes"].get<uint64_t>(), 524288u) << label;
    // registry: 2000 *Entry (64-byte class) + 2000 names + the map: over 2000*64 bytes, over 4000 allocations.
    EXPECT_GE(pkg["goscope.test/inittest/registry"]["allocs"].get<uint64_t>(), 4000u) << label;
    EXPECT_GE(pkg["goscope.test/inittest/registry"]["bytes"].get<uint64_t>(), 2000u * 64) << label;
    // known: exactly 1000 x 16 B + 1000 x 48 B, counted once each on every
    // release (1.27: one site calls a size-specialized allocator directly,
    // the other through mallocgc), with no GODEBUG set.
    ASSERT_TRUE(pkg.count("goscope.test/inittest/known")) << label;
    EXPECT_EQ(pkg["goscope.test/inittest/known"]["allocs"].get<uint64_t>(), 2000u) << label;
    EXPECT_EQ(pkg["goscope.test/inittest/known"]["bytes"].get<uint64_t>(), 1000u * 16 + 1000u * 48) << label;
    // Packages come in init order: dependencies first, main last.
    EXPECT_EQ(j["packages"].back()["package"], "main") << label;
    // The pprof profile has the stacks, labelled by package.
    std::string top = RunCommand(testing::GoEnvPrefix() + testing::ToolchainFor(b.go_version)->Tool("pprof") +
                                     " -top -sample_index=alloc_space -tagfocus=package=goscope.test/inittest/registry " +
                                     ShellQuote(dir.path() + "/init-heap.pb.gz"),
                                 "", &rc);
    EXPECT_EQ(rc, 0) << top;
    EXPECT_NE(top.find("registry.build"), std::string::npos) << label << "\n" << top;
    EXPECT_EQ(top.find("tables.init"), std::string::npos) << label << "\n" << top;
  }
}

TEST(RunInit, RealProgramFromDebianMatchesInittrace) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("/usr/bin/restic", "restic");
  // restic: stripped, externally linked, go1.19, 230+ packages with a heavy init.
  ExpectInitMatchesInittrace("/usr/bin/restic", "version", "restic");
}

TEST(RunInit, AttachWaitForCatchesAProgramStartedBySomeoneElse) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  for (const auto& b : InitTestBinaries()) {
    if (b.variant != "pie") continue;
    const std::string label = testing::TestBinaryLabel(b);
    heaptest::TempDir dir;
    // A private copy: every process that execs the watched file is stopped at
    // its exec, and other tests run this binary beside this one.
    const std::string prog = dir.path() + "/inittest-copy";
    int rc = -1;
    RunCommand("cp " + ShellQuote(b.path) + " " + ShellQuote(prog), "", &rc);
    ASSERT_EQ(rc, 0);
    heaptest::Child gs({GOSCOPE_BINARY, "attach", "--wait-for", prog, "--until", "main", "-o", dir.path()});
    ASSERT_TRUE(gs.WaitFor(1, "waiting for").has_value()) << label << gs.err();
    std::string err;
    std::string out = RunCommand("GODEBUG=inittrace=1 " + ShellQuote(prog), "", &rc, &err);
    EXPECT_EQ(rc, 0) << label;
    EXPECT_EQ(gs.Wait(), 0) << label << gs.err();
    auto oracle = ParseInittrace(err);
    auto ours = ParseInitJson(ReadJson(dir.path() + "/init.json"));
    ASSERT_GT(oracle.size(), 10u) << label;
    ExpectSameCounts(ours, oracle, label);
  }
}

// The program's own behaviour under goscope run: output, input, status, signal.
struct Outcome {
  std::string out, err;
  int rc = -1;
};

Outcome RunShell(const std::string& cmd, const std::string& input = "") {
  Outcome o;
  o.out = RunCommand(cmd, input, &o.rc, &o.err);
  return o;
}

TEST(RunInit, ProgramBehavesAsWithoutGoscope) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  for (const auto& b : InitTestBinaries()) {
    if (b.variant != "plain" && b.variant != "pie") continue;
    const std::string label = testing::TestBinaryLabel(b);
    for (std::string until : {"main", "exit"}) {
      for (std::string args : {"", "exit 7", "kill 15", "kill 9", "echo"}) {
        heaptest::TempDir dir;
        const std::string input = args == "echo" ? "line one\nline two\n" : "";
        Outcome plain = RunShell(ShellQuote(b.path) + " " + args, input);
        Outcome traced = RunShell(ShellQuote(GOSCOPE_BINARY) + " run -q --until " + until + " -o " +
                                 ShellQuote(dir.path()) + " -- " + ShellQuote(b.path) + " " + args,
                             input);
        const std::string what = label + " --until " + until + " " + args;
        EXPECT_EQ(traced.out, plain.out) << what;
        EXPECT_EQ(traced.rc, plain.rc) << what << "\n" << traced.err;
        EXPECT_EQ(traced.err, plain.err) << what;  // -q: goscope adds nothing to stderr
        EXPECT_TRUE(testing::FileExists(dir.path() + "/init.json")) << what;
        if (until == "exit") {
          EXPECT_TRUE(testing::FileExists(dir.path() + "/summary.json")) << what;
        }
      }
    }
  }
  EXPECT_EQ(RunShell(ShellQuote(GOSCOPE_BINARY) + " run -- /nonexistent/prog").rc, 127);
  heaptest::TempDir dir;
  const std::string not_executable = dir.path() + "/data.txt";
  std::ofstream(not_executable) << "not a program\n";
  EXPECT_EQ(RunShell(ShellQuote(GOSCOPE_BINARY) + " run -- " + ShellQuote(not_executable)).rc, 126);
  Outcome not_go = RunShell(ShellQuote(GOSCOPE_BINARY) + " run -- /bin/true");
  EXPECT_NE(not_go.rc, 0);
  EXPECT_NE(not_go.err.find("not a Go binary"), std::string::npos) << not_go.err;
}

TEST(RunInit, UntilExitTracesTheRestLikeAttach) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  for (const auto& b : InitTestBinaries()) {
    if (b.variant != "stripped") continue;
    const std::string label = testing::TestBinaryLabel(b);
    heaptest::TempDir dir;
    // A second of life after main: the sampled heap starts after main.main,
    // and on a loaded machine 300 ms were once not enough for it to begin.
    Outcome o = RunShell(ShellQuote(GOSCOPE_BINARY) + " run -o " + ShellQuote(dir.path()) + " -- " + ShellQuote(b.path) +
                    " sleep 1000");
    ASSERT_EQ(o.rc, 0) << label << o.err;
    nlohmann::json s = ReadJson(dir.path() + "/summary.json");
    ASSERT_TRUE(s.is_object()) << label;
    // main, the init goroutine of package bg, and the runtime's own (at least bgsweep, bgscavenge).
    EXPECT_GE(s["goroutines_created"].get<uint64_t>(), 4u) << label << s.dump(1);
    EXPECT_TRUE(s["target_exited"].get<bool>()) << label;
    EXPECT_EQ(s["events_lost"].get<uint64_t>(), 0u) << label;
    EXPECT_GT(s["init"]["allocs"].get<uint64_t>(), 6000u) << label;
    EXPECT_EQ(s["alloc_mode"], "sampled") << label << s.dump(1);
    for (const char* f : {"init.json", "init.txt", "init-heap.pb.gz", "heap.pb.gz", "goroutines.pb.gz", "leaks.json",
                          "timeline.json"})
      EXPECT_TRUE(testing::FileExists(dir.path() + "/" + f)) << label << " " << f;
    EXPECT_EQ(o.err.find("ERROR"), std::string::npos) << label << o.err;
  }
}

}  // namespace
}  // namespace goscope
