// Every probe site the reader chooses fires in a live Go process, on every
// toolchain, plain and stripped, and goscope leaves no probe behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

// Starts a Go test program in the background; kills it on destruction.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    pid_ = fork();
    if (pid_ == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      std::vector<char*> a;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) kill(pid_, SIGKILL), waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

uint64_t Hits(const nlohmann::json& sites, const std::string& name) {
  for (const auto& s : sites)
    if (s["site"] == name) return s["hits"].is_null() ? 0 : s["hits"].get<uint64_t>();
  ADD_FAILURE() << "no site " << name;
  return 0;
}

TEST(ProbeCheck, EverySiteFiresOnLiveDemo) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  int runs = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "demo" || (b.variant != "stripped" && b.variant != "pie")) continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    Child demo({b.path, "-duration", "60s", "-status", "0", "-tick", "5ms"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(demo.alive());
    int rc = 0;
    std::string err;
    std::string out = RunCommand(std::string(GOSCOPE_BINARY) + " probe-check --json --duration 1 -p " +
                                     std::to_string(demo.pid()), "", &rc, &err);
    ASSERT_EQ(rc, 0) << err;
    EXPECT_NE(err.find("probes live"), std::string::npos) << err;
    auto sites = nlohmann::json::parse(out);
    uint64_t created = Hits(sites, "goroutine_create"), newg = Hits(sites, "goroutine_new_g");
    EXPECT_GT(created, 10u);
    EXPECT_GT(Hits(sites, "goroutine_exit"), 0u);
    EXPECT_GT(Hits(sites, "malloc"), 100u);
    // 1.27+: most small objects are allocated in the size-specialized functions.
    if (testing::ParseGoVersion(b.go_version).minor >= 27) EXPECT_GT(Hits(sites, "malloc_specialized"), 100u);
    // Each newproc1 call is followed by exactly one runqput in newproc's closure.
    // All sites count over one window; a goroutine being created at its edges
    // may be seen by one probe only.
    EXPECT_NEAR(static_cast<double>(newg), static_cast<double>(created), 0.01 * created + 3);
    EXPECT_TRUE(demo.alive()) << "the traced program died";
    runs++;
  }
  EXPECT_GE(runs, 5);
  // Nothing stays attached once goscope has exited.
  int rc = 0;
  std::string links = RunCommand("bpftool link show", "", &rc);
  EXPECT_EQ(links.find("count_hit"), std::string::npos) << links;
}

}  // namespace
}  // namespace goscope
