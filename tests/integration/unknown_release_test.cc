// A Go release goscope has never seen. The newest toolchain's goroutines
// program, with every copy of its version string rewritten to "go1.99.N..."
// (same length, so nothing else moves): the binary still runs, and goscope
// must read it from its DWARF alone when it has DWARF, and when stripped
// name exactly what it cannot find, refuse the commands that need it, and
// still symbolize. Never a wrong answer, never a probe at a guessed address.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::TestBinary;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

class UnknownRelease : public ::testing::Test {
 protected:
  void SetUp() override {
    binaries_ = testing::LoadTestBinaries();
    const TestBinary* newest = testing::NewestBuild(binaries_, "goroutines", "plain");
    ASSERT_NE(newest, nullptr) << "no goroutines test binary";
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    from_ = newest->go_version;
    to_ = "go1.99." + std::string(from_.size() - 7, '0');  // "go1.99.0" for "go1.27.4"
    ASSERT_EQ(to_.size(), from_.size());
    for (const char* variant : {"plain", "stripped"}) {
      for (const auto& b : binaries_)
        if (b.name == "goroutines" && b.variant == variant && b.go_version == from_)
          paths_[variant] = Patch(b.path, std::string(dir_) + "/goroutines-" + variant);
    }
    ASSERT_EQ(paths_.size(), 2u);
  }

  // A copy of path with every occurrence of the version string replaced.
  std::string Patch(const std::string& path, const std::string& out) {
    std::string bytes = Slurp(path);
    size_t n = 0;
    for (size_t at = bytes.find(from_); at != std::string::npos; at = bytes.find(from_, at + 1), ++n)
      bytes.replace(at, from_.size(), to_);
    EXPECT_GE(n, 1u) << path << " does not contain " << from_;
    std::ofstream(out, std::ios::binary) << bytes;
    std::filesystem::permissions(out, std::filesystem::perms::owner_all);
    return out;
  }

  heaptest::TempDir tmp_;
  std::vector<TestBinary> binaries_;
  std::string dir_, from_, to_;
  std::map<std::string, std::string> paths_;
};

TEST_F(UnknownRelease, InfoReadsTheVersionAndSaysWhatItRestsOn) {
  int rc = -1;
  std::string out = testing::RunCommand(heaptest::GoscopeBinary() + " info " + testing::ShellQuote(paths_["plain"]) + " 2>&1",
                                        "", &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("go version    " + to_), std::string::npos) << out;
  EXPECT_NE(out.find("newer than the releases goscope is tested on"), std::string::npos) << out;
  EXPECT_NE(out.find("verdict: traceable"), std::string::npos) << out;
  // Every required offset from DWARF, none from the table (it cannot know go1.99).
  EXPECT_EQ(out.find(" table"), std::string::npos) << out;
}

TEST_F(UnknownRelease, StrippedIsRefusedItemByItemButStillSymbolizes) {
  int rc = -1;
  std::string out = testing::RunCommand(heaptest::GoscopeBinary() + " info " + testing::ShellQuote(paths_["stripped"]) + " 2>&1",
                                        "", &rc);
  EXPECT_EQ(rc, 3) << out;
  for (const char* key : {"runtime.g.goid", "runtime.g.atomicstatus", "runtime.g.sched.sp", "runtime.g.gopc"})
    EXPECT_NE(out.find(std::string("problem: runtime layout: ") + key + " unknown"), std::string::npos) << key << "\n" << out;
  EXPECT_NE(out.find("symbolize and info work"), std::string::npos) << out;

  // symbolize: main.main's entry, from the pclntab the release did not change.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(main_main +main\.main +(0x[0-9a-f]+))"))) << out;
  std::string sym = testing::RunCommand(heaptest::GoscopeBinary() + " symbolize " + testing::ShellQuote(paths_["stripped"]) +
                                            " " + m[1].str() + " 2>&1", "", &rc);
  EXPECT_EQ(rc, 0) << sym;
  EXPECT_NE(sym.find("main.main"), std::string::npos) << sym;

  // Every command that needs the layout refuses the running program (exit 3,
  // naming an item) before it loads or writes anything; run refuses to start it.
  heaptest::Child prog({paths_["stripped"], "-recv", "3"});
  ASSERT_TRUE(prog.WaitFor(0, "ready")) << prog.err();
  const std::string pid = std::to_string(prog.pid());
  for (std::vector<std::string> cmd : {std::vector<std::string>{"goroutines", "-p", pid},
                                       {"attach", "-p", pid, "--duration", "1", "-o", dir_ + "/attach"},
                                       {"heap", "-p", pid, "--duration", "1", "-o", dir_ + "/heap.pb.gz"},
                                       {"gc", "-p", pid, "--duration", "1"},
                                       {"leaks", "-p", pid},
                                       {"retain", "-p", pid, "-o", dir_ + "/retain.pb.gz"},
                                       {"run", "--", paths_["stripped"], "-recv", "1"}}) {
    cmd.insert(cmd.begin(), heaptest::GoscopeBinary());
    heaptest::Child gs(cmd);
    EXPECT_EQ(gs.Wait(), 3) << cmd[1] << ": " << gs.err();
    EXPECT_NE(gs.err().find("cannot be traced:"), std::string::npos) << cmd[1] << ": " << gs.err();
    EXPECT_NE(gs.err().find("runtime.g.goid"), std::string::npos) << cmd[1] << ": " << gs.err();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/heap.pb.gz"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/retain.pb.gz"));
}

TEST_F(UnknownRelease, WithDwarfGoroutinesAndAttachWork) {
  heaptest::Child prog({paths_["plain"], "-recv", "7"});
  auto ready = prog.WaitFor(0, "ready");
  ASSERT_TRUE(ready) << prog.err();
  const int want = std::stoi(ready->substr(ready->find(' ') + 1));
  heaptest::Child gs({heaptest::GoscopeBinary(), "goroutines", "-p", std::to_string(prog.pid()), "--group"});
  ASSERT_EQ(gs.Wait(), 0) << gs.err();
  EXPECT_NE(gs.out().find("goroutine profile: total " + std::to_string(want)), std::string::npos) << gs.out();
  EXPECT_NE(gs.out().find("main.blockRecv"), std::string::npos) << gs.out();

  // The heap's layout, the type descriptor's and the globals' too, from DWARF.
  const std::string profile = dir_ + "/retain.pb.gz";
  heaptest::Child retain({heaptest::GoscopeBinary(), "retain", "-p", std::to_string(prog.pid()), "-o", profile});
  ASSERT_EQ(retain.Wait(60000), 0) << retain.err();
  EXPECT_NE(retain.out().find("(" + to_ + "): stopped"), std::string::npos) << retain.out();
  EXPECT_TRUE(std::filesystem::exists(profile));

  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  std::string out_dir = dir_ + "/attach";
  heaptest::Child at({heaptest::GoscopeBinary(), "attach", "-p", std::to_string(prog.pid()), "--duration", "1", "-o",
                      out_dir});
  ASSERT_EQ(at.Wait(60000), 0) << at.err();
  std::string summary = Slurp(out_dir + "/summary.json");
  EXPECT_NE(summary.find("\"go_version\": \"" + to_ + "\""), std::string::npos) << summary.substr(0, 400);
}

}  // namespace
}  // namespace goscope
