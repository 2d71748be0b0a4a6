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
#include "child.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

// A Go test program in the background (no stdout); killed on destruction.
struct Child : testing::Child {
  explicit Child(const std::vector<std::string>& argv)
      : testing::Child(argv, {.in = testing::Io::kInherit, .out = testing::Io::kNull, .err = testing::Io::kInherit}) {}
  bool alive() { return started() && !Exited(); }
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
    if (testing::ParseGoVersion(b.go_version).minor >= 27) {
      EXPECT_GT(Hits(sites, "malloc_specialized"), 100u);
    }
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
