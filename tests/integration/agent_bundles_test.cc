// The agent's diagnosis bundles: a process whose goroutines start to grow
// gets exactly one bundle, whole, that go tool pprof reads (with -base
// against the profiles from before the growth) and whose dump shows the
// growing stack, listed and fetched over /bundles; bursts that come and go
// get none; a full disk is counted, leaves nothing partial and the agent
// goes on; /bundles refuses bad requests.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent_under_test.h"
#include "bpf_required.h"
#include "pprof_reader.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using namespace std::chrono_literals;
using testing::AgentUnderTest;
using testing::Child;
using testing::MetricValue;
using testing::WaitForMetrics;

// A rule that fires within seconds: goroutines above 200 and 30% up on 2 s
// earlier, at 3 readings (1 s apart) in a row.
nlohmann::json FastRules() {
  return {{"runtime_stats", {{"interval_seconds", 1}}},
          {"bundles",
           {{"rules", {{{"stat", "NumGoroutine"}, {"floor", 200}, {"growth_percent", 30}, {"over_seconds", 2},
                        {"readings", 3}}}}}}};
}

// A private copy of agentprog, so the agent watches this program only.
std::string CopyOf(const testing::TestBinary& b, const testing::TempDir& dir, const std::string& name) {
  const std::string path = dir.path() + "/" + name;
  std::filesystem::copy_file(b.path, path);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

nlohmann::json Bundles(const AgentUnderTest& agent, const std::string& query = "") {
  return nlohmann::json::parse(agent.Get("/bundles" + query), nullptr, false);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// No temporary directories or files anywhere under dir.
void ExpectNothingPartial(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    EXPECT_FALSE(name.starts_with(".")) << "temporary entry left: " << e.path();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << "temporary file left: " << e.path();
  }
}

TEST(AgentBundles, AGrowingProcessGetsExactlyOneWholeBundle) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "agentprog", "stripped");
  ASSERT_TRUE(b);
  testing::TempDir dir;
  const std::string path = CopyOf(*b, dir, "agentprog-bundle");
  const std::string profiles = dir.path() + "/profiles";
  // Quiet for 3 s (the agent keeps profiles from then), then 100 goroutines a second.
  Child prog({path, "grow", "50", "3000"});
  AgentUnderTest agent(path, FastRules(), {"--profile-dir", profiles});
  ASSERT_GT(agent.port(), 0) << agent.child().err();
  ASSERT_TRUE(prog.WaitFor(testing::kStdout, "growing", 10000)) << prog.err();

  nlohmann::json list;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  do {
    std::this_thread::sleep_for(500ms);
    list = Bundles(agent);
  } while ((!list.is_object() || list["bundles"].empty()) && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(list.is_object() && list["bundles"].size() == 1) << list.dump(1) << agent.child().err();
  const nlohmann::json bundle = list["bundles"][0];
  EXPECT_EQ(bundle["pid"], prog.pid());
  EXPECT_TRUE(agent.child().WaitFor(testing::kStderr, "diagnosis bundle " + bundle["name"].get<std::string>(), 1000))
      << agent.child().err();
  const std::string on_disk = profiles + "/bundles/" + bundle["name"].get<std::string>();
  const std::set<std::string> files(bundle["files"].begin(), bundle["files"].end());
  EXPECT_EQ(files, (std::set<std::string>{"goroutines-before.pb.gz", "goroutines.pb.gz", "goroutines.txt",
                                          "heap-before.pb.gz", "heap.pb.gz", "leaks.json", "stats.json",
                                          "summary.json", "summary.txt"}));

  // Why, and when the "before" profiles were taken: before the growth.
  const nlohmann::json summary = nlohmann::json::parse(ReadFile(on_disk + "/summary.json"));
  std::set<std::string> keys;
  for (const auto& [k, v] : summary.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"schema_version", "pid", "exe", "comm", "go_version", "labels", "unix_ns",
                                         "rule", "why", "baseline_unix_ns", "heap_sampling_rate", "files"}))
      << "docs/OUTPUTS.md lists these";
  EXPECT_EQ(summary["pid"], prog.pid());
  // agentprog never uses the memory profile; the agent switched Go's sampler on.
  EXPECT_EQ(summary["heap_sampling_rate"], 524288) << summary.dump(1);
  EXPECT_EQ(ReadFile(on_disk + "/summary.txt").find("heap sampler is off"), std::string::npos);
  EXPECT_NE(summary["rule"].get<std::string>().find("NumGoroutine above 200"), std::string::npos);
  EXPECT_NE(summary["why"].get<std::string>().find("3 readings in a row"), std::string::npos) << summary.dump(1);
  ASSERT_TRUE(summary["baseline_unix_ns"].is_number()) << summary.dump(1);
  const nlohmann::json stats = nlohmann::json::parse(ReadFile(on_disk + "/stats.json"));
  ASSERT_GE(stats["readings"].size(), 4u);
  EXPECT_LE(stats["readings"].back()["unix_ns"].get<uint64_t>() - summary["baseline_unix_ns"].get<uint64_t>(),
            uint64_t{30'000'000'000});

  // The dump shows the growing stack; pprof reads every profile, and -base
  // shows the goroutines that came since.
  const std::string dump = ReadFile(on_disk + "/goroutines.txt");
  EXPECT_NE(dump.find("main.leakOne"), std::string::npos) << dump.substr(0, 2000);
  EXPECT_NE(dump.find("[chan receive"), std::string::npos);
  for (const char* f : {"goroutines.pb.gz", "goroutines-before.pb.gz", "heap.pb.gz", "heap-before.pb.gz"})
    testing::Pprof("-raw " + testing::ShellQuote(on_disk + "/" + f));
  auto grown = testing::ParseTop(testing::Pprof("-top -base " + testing::ShellQuote(on_disk + "/goroutines-before.pb.gz") +
                                                " " + testing::ShellQuote(on_disk + "/goroutines.pb.gz")));
  bool leak_grew = false;
  for (const auto& [fn, row] : grown) leak_grew |= fn.find("main.leakOne") != std::string::npos;
  EXPECT_TRUE(leak_grew) << "pprof -base does not show the growth";

  // Served as on disk; counted; and only one, though the growth goes on.
  int rc = -1;
  EXPECT_EQ(agent.Get("/bundles?name=" + bundle["name"].get<std::string>() + "&file=summary.json", &rc),
            ReadFile(on_disk + "/summary.json"));
  EXPECT_EQ(rc, 0);
  std::this_thread::sleep_for(4s);
  EXPECT_EQ(Bundles(agent)["bundles"].size(), 1u);
  EXPECT_EQ(Bundles(agent, "?pid=" + std::to_string(prog.pid()))["bundles"].size(), 1u);
  EXPECT_EQ(Bundles(agent, "?pid=1")["bundles"].size(), 0u);
  const std::string m = agent.Get("/metrics");
  EXPECT_EQ(MetricValue(m, "goscope_bundles_total", prog.pid()), 1);
  EXPECT_EQ(MetricValue(m, "goscope_agent_bundles_written_total"), 1);
  EXPECT_EQ(MetricValue(m, "goscope_agent_bundle_failures_total"), 0);
  EXPECT_GT(MetricValue(m, "goscope_agent_bundle_bytes"), 0);
  ExpectNothingPartial(profiles);
}

TEST(AgentBundles, BurstsThatComeAndGoWriteNone) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "agentprog", "plain");
  ASSERT_TRUE(b);
  testing::TempDir dir;
  const std::string path = CopyOf(*b, dir, "agentprog-burst");
  const std::string profiles = dir.path() + "/profiles";
  Child prog({path, "burst", "400"});  // 400 goroutines for 1 s in every 2
  AgentUnderTest agent(path, FastRules(), {"--profile-dir", profiles});
  ASSERT_GT(agent.port(), 0) << agent.child().err();
  ASSERT_TRUE(prog.WaitFor(testing::kStdout, "bursting", 10000));
  // The agent sees the bursts (its readings reach above the floor)...
  std::string m;
  EXPECT_TRUE(WaitForMetrics(agent, [&](const std::string& t) {
    return MetricValue(t, "goscope_go_goroutines", prog.pid()) > 200;
  }, &m, 20000)) << m;
  std::this_thread::sleep_for(10s);
  // ...and writes nothing.
  EXPECT_EQ(Bundles(agent)["bundles"].size(), 0u) << agent.child().err();
  EXPECT_EQ(MetricValue(agent.Get("/metrics"), "goscope_agent_bundles_written_total"), 0);
}

TEST(AgentBundles, AFullDiskIsCountedLeavesNothingPartialAndTheAgentGoesOn) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  testing::SmallFilesystem fs("1m");
  ASSERT_TRUE(fs.ok()) << "cannot mount a tmpfs (root is needed)";
  const auto bins = testing::LoadTestBinaries();
  const testing::TestBinary* b = testing::NewestBuild(bins, "agentprog", "stripped");
  ASSERT_TRUE(b);
  testing::TempDir dir;
  const std::string path = CopyOf(*b, dir, "agentprog-full");
  Child prog({path, "grow", "50", "3000"});
  nlohmann::json config = FastRules();
  config["retention"] = {{"max_bytes", 0}};
  AgentUnderTest agent(path, config, {"--profile-dir", fs.path("profiles")});
  ASSERT_GT(agent.port(), 0) << agent.child().err();
  fs.Fill();
  std::string m;
  EXPECT_TRUE(WaitForMetrics(agent, [&](const std::string& t) {
    return MetricValue(t, "goscope_agent_bundle_failures_total") == 1;
  }, &m, 30000)) << m << agent.child().err();
  EXPECT_TRUE(agent.child().WaitFor(testing::kStderr, "diagnosis bundle not written", 1000)) << agent.child().err();
  EXPECT_NE(agent.child().err().find("No space left on device"), std::string::npos) << agent.child().err();
  EXPECT_EQ(MetricValue(m, "goscope_agent_bundles_written_total"), 0);
  EXPECT_EQ(MetricValue(m, "goscope_bundles_total", prog.pid()), 0) << "a failed bundle is no bundle (the alert counts these)";
  EXPECT_EQ(Bundles(agent)["bundles"].size(), 0u);
  ExpectNothingPartial(fs.path("profiles"));
  // Still serving, still tracing.
  EXPECT_GT(MetricValue(agent.Get("/metrics"), "goscope_goroutines", prog.pid()), 0);
}

TEST(AgentBundles, BundlesEndpointRefusesBadRequests) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  testing::TempDir dir;
  AgentUnderTest agent(dir.path() + "/nothing-*", FastRules(), {"--profile-dir", dir.path() + "/profiles"});
  ASSERT_GT(agent.port(), 0) << agent.child().err();
  auto status = [&](const std::string& q) {
    return testing::RunCommand("curl -s -o /dev/null -w '%{http_code}' " + testing::ShellQuote(agent.Url(q)), "",
                               nullptr);
  };
  EXPECT_EQ(status("/bundles"), "200");
  EXPECT_EQ(status("/bundles?pid=x"), "400");
  EXPECT_EQ(status("/bundles?file=heap.pb.gz"), "400");
  EXPECT_EQ(status("/bundles?name=nope"), "404");
  EXPECT_EQ(status("/bundles?name=1-x-20260101T000000Z&file=heap.pb.gz"), "404");
  EXPECT_EQ(status("/bundles?name=..&file=passwd"), "404");
  EXPECT_EQ(status("/bundles?name=1-x-20260101T000000Z&file=../../../etc/passwd"), "404");

  // Without a profile directory there are no bundles, and the endpoint says so.
  AgentUnderTest without(dir.path() + "/nothing-*", FastRules());
  EXPECT_EQ(testing::RunCommand("curl -s -o /dev/null -w '%{http_code}' " +
                                    testing::ShellQuote(without.Url("/bundles")), "", nullptr),
            "404");
  // The config's profile_dir serves as well as the flag.
  nlohmann::json config = FastRules();
  config["profile_dir"] = dir.path() + "/from-config";
  AgentUnderTest configured(dir.path() + "/nothing-*", config);
  EXPECT_EQ(testing::RunCommand("curl -s -o /dev/null -w '%{http_code}' " +
                                    testing::ShellQuote(configured.Url("/bundles")), "", nullptr),
            "200");
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() + "/from-config/bundles"));
}

}  // namespace
}  // namespace goscope
