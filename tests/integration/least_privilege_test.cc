// goscope without root: an unprivileged user holding only CAP_BPF,
// CAP_PERFMON and CAP_SYS_PTRACE (setpriv) attaches to a root-owned Go
// process and runs a program from its first instruction; the agent, which
// also reads other users' /proc/PID/environ, adds CAP_DAC_READ_SEARCH. With
// none of them goscope refuses, naming what it needs.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "testbin.h"
#include "tool_required.h"

namespace goscope {
namespace {

using heaptest::Child;
using testing::RunCommand;
using testing::ShellQuote;

const char* kSetprivCaps =
    "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+perfmon,+sys_ptrace "
    "--ambient-caps=+bpf,+perfmon,+sys_ptrace ";
const char* kSetprivNone = "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ";

// A directory nobody (65534) can write, and reach wherever the clone lives
// (under /root, mode 0700, nobody can open nothing).
struct OpenDir {
  heaptest::TempDir dir;
  OpenDir() { ::chmod(dir.path().c_str(), 0777); }
  // A copy of an executable that nobody can run.
  std::string Executable(const std::string& path) const {
    std::string copy = dir.path() + "/" + std::filesystem::path(path).filename().string();
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    ::chmod(copy.c_str(), 0755);
    return copy;
  }
};

// The newest toolchain's build of a program.
const testing::TestBinary* Find(const std::string& name, const std::string& variant) {
  static const auto bins = testing::LoadTestBinaries();
  return testing::NewestBuild(bins, name, variant);
}

TEST(LeastPrivilege, AttachRunAndAgentWithThreeCapabilities) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("setpriv", "util-linux");
  const auto* leaker = Find("leaker", "stripped");
  const auto* inittest = Find("inittest", "plain");
  ASSERT_TRUE(leaker && inittest) << "test binaries missing";
  OpenDir out;
  const std::string goscope = out.Executable(GOSCOPE_BINARY);
  const std::string inittest_copy = out.Executable(inittest->path);

  // attach to a process owned by root (this test runs as root).
  Child target({leaker->path});
  ASSERT_TRUE(target.WaitFor(0, "ready").has_value()) << target.err();
  int rc = -1;
  std::string err;
  RunCommand(std::string(kSetprivCaps) + ShellQuote(goscope) + " attach -p " + std::to_string(target.pid()) +
                 " --duration 2 -o " + ShellQuote(out.dir.path() + "/attach"),
             "", &rc, &err);
  EXPECT_EQ(rc, 0) << err;
  std::ifstream f(out.dir.path() + "/attach/summary.json");
  nlohmann::json s = nlohmann::json::parse(f, nullptr, false);
  ASSERT_TRUE(s.is_object()) << err;
  EXPECT_GT(s["probes"].get<int>(), 0);
  EXPECT_GT(s["goroutines_live"].get<int>(), 0);
  EXPECT_EQ(s["memprofilerate_restored"], s["memprofilerate_written"]) << s.dump(1);

  // stats: the runtime's statistics from the root-owned process's memory.
  std::string stats = RunCommand(std::string(kSetprivCaps) + ShellQuote(goscope) + " stats --json -p " +
                                     std::to_string(target.pid()),
                                 "", &rc, &err);
  EXPECT_EQ(rc, 0) << err;
  nlohmann::json st = nlohmann::json::parse(stats, nullptr, false);
  ASSERT_TRUE(st.is_object()) << stats << err;
  EXPECT_GT(st["stats"]["HeapObjects"].get<uint64_t>(), 0u) << stats;

  // run: the program starts as the same unprivileged user.
  std::string stdout_text = RunCommand(std::string(kSetprivCaps) + ShellQuote(goscope) + " run -q --until main -o " +
                                           ShellQuote(out.dir.path() + "/run") + " -- " + ShellQuote(inittest_copy),
                                       "", &rc, &err);
  EXPECT_EQ(rc, 0) << err;
  EXPECT_NE(stdout_text.find("registry 2000"), std::string::npos) << stdout_text;
  EXPECT_TRUE(testing::FileExists(out.dir.path() + "/run/init.json")) << err;

  // agent: sees the root-owned process and serves its metrics. It also needs
  // CAP_DAC_READ_SEARCH: /proc/PID/environ (the GOSCOPE_AGENT=off opt-out) is
  // mode 0400 for its owner, a file-permission check CAP_SYS_PTRACE does not pass.
  // Only the leaker: other tests' programs run beside this one.
  const std::string config = out.dir.path() + "/agent.json";
  std::ofstream(config) << R"({"include": [{"exe": "*/leaker-stripped"}]})";
  ::chmod(config.c_str(), 0644);
  Child agent({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               "--inh-caps=+bpf,+perfmon,+sys_ptrace,+dac_read_search",
               "--ambient-caps=+bpf,+perfmon,+sys_ptrace,+dac_read_search", goscope, "agent", "--listen",
               "127.0.0.1:0", "--config", config});
  auto line = agent.WaitFor(1, "listening on 127.0.0.1:", 30000);
  ASSERT_TRUE(line.has_value()) << agent.err();
  ASSERT_TRUE(agent.WaitFor(1, "tracing ", 30000).has_value()) << agent.err();
  int port = std::stoi(line->substr(line->rfind(':') + 1));
  std::string metrics;
  for (int i = 0; i < 40 && metrics.find("pid=\"" + std::to_string(target.pid()) + "\"") == std::string::npos; ++i) {
    metrics = RunCommand("curl -sf http://127.0.0.1:" + std::to_string(port) + "/metrics", "", &rc);
    usleep(250000);
  }
  EXPECT_NE(metrics.find("goscope_goroutines{pid=\"" + std::to_string(target.pid()) + "\""), std::string::npos)
      << metrics << agent.err();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0) << agent.err();
}

TEST(LeastPrivilege, WithoutCapabilitiesItRefusesAndSaysWhatItNeeds) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("setpriv", "util-linux");
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to an unprivileged user";
  const auto* inittest = Find("inittest", "plain");
  ASSERT_TRUE(inittest);
  OpenDir dir;
  const std::string goscope = dir.Executable(GOSCOPE_BINARY);
  int rc = -1;
  std::string err;
  RunCommand(std::string(kSetprivNone) + ShellQuote(goscope) + " run -- " + ShellQuote(dir.Executable(inittest->path)),
             "", &rc, &err);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE"), std::string::npos) << err;
  RunCommand(std::string(kSetprivNone) + ShellQuote(goscope) + " agent", "", &rc, &err);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE"), std::string::npos) << err;
}

}  // namespace
}  // namespace goscope
