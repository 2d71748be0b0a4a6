// Prometheus, the real one, against what goscope serves and ships:
//  - the test utility (prometheus_server.h) proven on a real target: goscope's
//    own HttpServer serving a PrometheusTextWriter page, scraped by Debian's
//    prometheus and read back through PromQL, with and without a bearer token;
//    a clean stop; a start-up failure reported with the server's own words
//  - deploy/prometheus/: promtool checks the rules and the scrape config and
//    runs the rules' unit tests, and every alert is tested both firing and
//    not firing
//  - deploy/ end to end: `goscope agent` with exactly the systemd unit's
//    capabilities (and nothing else), tracing a Go program of another user,
//    scraped over a bearer token by a Prometheus that evaluates alerts.yml.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "error.h"
#include "heap_test_util.h"
#include "agent/http_server.h"
#include "prometheus_server.h"
#include "output/prometheus_text.h"
#include "process/run_control.h"
#include "testbin.h"

namespace goscope {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::PrometheusServer;
using testing::PrometheusServerOptions;
using testing::RunCommand;
using testing::ShellQuote;

const std::string kDeployDir = std::string(GOSCOPE_SOURCE_DIR) + "/deploy";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes content to dir/name with the given mode; returns the path.
std::string WriteFile(const std::string& dir, const std::string& name, const std::string& content, mode_t mode) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), mode);
  return path;
}

// A /metrics page like the agent's, with a label value that needs escaping.
std::string ExpositionPage() {
  PrometheusTextWriter w;
  w.Family("goscope_goroutines", MetricType::kGauge, "Live goroutines.");
  w.Sample({{"pid", "4242"}, {"exe", "/usr/bin/demo"}, {"go_version", "go1.22.12"}, {"comm", "demo \"svc\"\\"}}, 1234);
  w.Family("goscope_gc_pause_seconds", MetricType::kHistogram, "GC pauses.");
  w.Histogram({{"pid", "4242"}}, {{0.001, 0.01}, {1, 2, 3}, 0.5});
  return w.text();
}

// An HttpServer on a free loopback port serving ExpositionPage() at
// /metrics, counting the scrapes it answered.
struct MetricsTarget {
  explicit MetricsTarget(const std::string& token = "") {
    HttpServerOptions o;
    o.listen = "127.0.0.1:0";
    o.bearer_token = token;
    o.log = [](const std::string&) {};
    server = std::make_unique<HttpServer>(o);
    server->Handle("/metrics", [this](const HttpRequest&) {
      scrapes++;
      HttpResponse r;
      r.content_type = std::string(kPrometheusContentType);
      r.body = ExpositionPage();
      return r;
    });
    port = server->Start();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  std::unique_ptr<HttpServer> server;
  uint16_t port = 0;
  std::atomic<int> scrapes{0};
};

// ---------------------------------------------------------------- the utility

TEST(PrometheusServer, ScrapesAGoscopeHttpServerAndAnswersPromQL) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  MetricsTarget target;
  PrometheusServer prom({.target = target.address()});
  ASSERT_NE(prom.port(), 0);

  nlohmann::json t = prom.WaitForScrape(15s);
  ASSERT_FALSE(t.is_null()) << prom.Targets().dump(1) << prom.Log();
  EXPECT_EQ(t.value("health", ""), "up") << t.dump(1);
  EXPECT_EQ(t.value("scrapeUrl", ""), "http://" + target.address() + "/metrics");
  EXPECT_EQ(t["labels"].value("job", ""), "goscope-agent");
  EXPECT_GE(target.scrapes.load(), 1);

  nlohmann::json r = prom.WaitForQuery(R"(goscope_goroutines{pid="4242"})", 10s);
  ASSERT_EQ(r.size(), 1u) << prom.Log();
  EXPECT_EQ(PrometheusServer::Value(r[0]), 1234);
  const nlohmann::json& m = r[0]["metric"];
  EXPECT_EQ(m.value("exe", ""), "/usr/bin/demo");
  EXPECT_EQ(m.value("go_version", ""), "go1.22.12");
  EXPECT_EQ(m.value("comm", ""), "demo \"svc\"\\");  // escaped by the writer, unescaped by Prometheus
  EXPECT_EQ(m.value("instance", ""), target.address());
  EXPECT_EQ(m.value("job", ""), "goscope-agent");

  // The histogram as Prometheus sees it: cumulative buckets, _count, _sum.
  r = prom.Query(R"(goscope_gc_pause_seconds_bucket{pid="4242"})").at("result");
  std::map<std::string, double> buckets;
  for (const auto& s : r) buckets[s["metric"].value("le", "")] = PrometheusServer::Value(s);
  EXPECT_EQ(buckets, (std::map<std::string, double>{{"0.001", 1}, {"0.01", 3}, {"+Inf", 6}}));
  r = prom.Query(R"(goscope_gc_pause_seconds_count{pid="4242"} + goscope_gc_pause_seconds_sum{pid="4242"})")
          .at("result");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_DOUBLE_EQ(PrometheusServer::Value(r[0]), 6.5);

  // A query Prometheus rejects is an Error carrying its reason.
  try {
    prom.Query("goscope_goroutines{");
    ADD_FAILURE() << "a bad query did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_data"), std::string::npos) << e.what();
  }
}

TEST(PrometheusServer, SendsTheBearerTokenFromItsFile) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  heaptest::TempDir dir;
  const std::string token = "goscope-scrape-Token_0123456789";
  // Prometheus trims the file's trailing newline, as LoadBearerToken does.
  const std::string token_file = WriteFile(dir.path(), "token", token + "\n", 0600);
  MetricsTarget target(token);

  PrometheusServer with({.target = target.address(), .bearer_token_file = token_file});
  PrometheusServer without({.target = target.address()});
  nlohmann::json t = with.WaitForScrape(10s);
  ASSERT_FALSE(t.is_null()) << with.Log();
  EXPECT_EQ(t.value("health", ""), "up") << t.dump(1);
  EXPECT_EQ(with.WaitForQuery(R"(goscope_goroutines{pid="4242"})", 10s).size(), 1u);

  t = without.WaitForScrape(10s);
  ASSERT_FALSE(t.is_null()) << without.Log();
  EXPECT_EQ(t.value("health", ""), "down") << t.dump(1);
  EXPECT_NE(t.value("lastError", "").find("401"), std::string::npos) << t.dump(1);
  nlohmann::json up = without.Query("up").at("result");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(PrometheusServer::Value(up[0]), 0);
  EXPECT_TRUE(without.Query("goscope_goroutines").at("result").empty());
}

TEST(PrometheusServer, StopsCleanlyAndLeavesNothingBehind) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  PrometheusServer prom({.target = "127.0.0.1:1"});  // nothing listens there: the target is just down
  const pid_t pid = prom.pid();
  const std::string dir = prom.dir();
  const uint16_t port = prom.port();
  EXPECT_TRUE(fs::exists(dir + "/prometheus.yml"));
  EXPECT_EQ(prom.Get("/-/healthy").status, 200);

  EXPECT_EQ(prom.Stop(), 0) << "SIGTERM should end it with status 0";
  EXPECT_EQ(prom.Stop(), 0);  // idempotent
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_THROW(PrometheusServer::HttpGet(port, "/-/ready", 2s), Error);
}

TEST(PrometheusServer, ReportsWhyItCouldNotStart) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  heaptest::TempDir dir;
  const std::string rules =
      WriteFile(dir.path(), "bad.yml", "groups: [{name: x, rules: [{alert: A, expr: 'up ==='}]}]\n", 0644);
  try {
    PrometheusServer prom({.target = "127.0.0.1:1", .rule_files = {rules}});
    ADD_FAILURE() << "started with an unparsable rule file";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exited with status 1 before it was ready"), std::string::npos) << what;
    EXPECT_NE(what.find("could not parse expression"), std::string::npos) << what;  // from its log
  }
}

// ---------------------------------------------------------------- deploy/prometheus

// The alert names of deploy/prometheus/alerts.yml ("- alert: NAME" lines).
std::set<std::string> AlertNames() {
  static const std::regex alert_line(R"(^\s*- alert:\s*(\S+)\s*$)");
  std::set<std::string> alerts;
  std::stringstream rules(ReadFile(kDeployDir + "/prometheus/alerts.yml"));
  for (std::string line; std::getline(rules, line);) {
    std::smatch m;
    if (std::regex_match(line, m, alert_line)) alerts.insert(m[1]);
  }
  return alerts;
}

std::string Promtool(const std::string& args, int* rc) {
  std::string err;
  std::string out = RunCommand(std::string(testing::kPromtoolBinary) + " " + args + " 2>&1", "", rc, &err);
  return out + err;
}

TEST(PrometheusDeploy, PromtoolChecksTheRulesAndConfigAndPassesTheRuleTests) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPromtoolBinary, "prometheus");
  const std::string dir = kDeployDir + "/prometheus";
  const std::string all_rules = fmt::format("SUCCESS: {} rules found", AlertNames().size());
  int rc = -1;
  std::string out = Promtool("check rules " + ShellQuote(dir + "/alerts.yml"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(all_rules), std::string::npos) << out;

  out = Promtool("test rules " + ShellQuote(dir + "/alerts_test.yml"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;

  // The scrape config: its syntax, then everything it references (promtool
  // wants the token file to exist, so a copy points at a real one).
  out = Promtool("check config --syntax-only " + ShellQuote(dir + "/scrape.yml"), &rc);
  EXPECT_EQ(rc, 0) << out;
  heaptest::TempDir tmp;
  std::string config = ReadFile(dir + "/scrape.yml");
  const std::string token_path = "/etc/prometheus/goscope-agent.token";
  ASSERT_NE(config.find(token_path), std::string::npos);
  config.replace(config.find(token_path), token_path.size(), WriteFile(tmp.path(), "token", "t0k3n\n", 0600));
  const std::string rule_file = "- alerts.yml";
  ASSERT_NE(config.find(rule_file), std::string::npos);
  config.replace(config.find(rule_file), rule_file.size(), "- " + dir + "/alerts.yml");
  const std::string copy = WriteFile(tmp.path(), "scrape.yml", config, 0644);
  out = Promtool("check config " + ShellQuote(copy), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(all_rules), std::string::npos) << out;
}

// What promtool cannot check: that each alert has a case where it fires and
// one where it must not. alerts_test.yml keeps one "alertname:" line before
// each "exp_alerts:" line, which this reads.
TEST(PrometheusDeploy, EveryAlertIsTestedFiringAndNotFiring) {
  const std::string dir = kDeployDir + "/prometheus";
  const std::set<std::string> alerts = AlertNames();
  ASSERT_GE(alerts.size(), 4u) << "growth, leak suspects, lost events, agent down at least";

  std::map<std::string, int> firing, quiet;
  static const std::regex name_line(R"(^\s*alertname:\s*(\S+)\s*$)");
  static const std::regex exp_line(R"(^\s*exp_alerts:\s*(\[\])?\s*$)");
  std::stringstream tests(ReadFile(dir + "/alerts_test.yml"));
  std::string current;
  for (std::string line; std::getline(tests, line);) {
    std::smatch m;
    if (std::regex_match(line, m, name_line)) {
      current = m[1];
    } else if (std::regex_match(line, m, exp_line)) {
      ASSERT_FALSE(current.empty()) << "exp_alerts without an alertname before it: " << line;
      (m[1].matched ? quiet : firing)[current]++;
      current.clear();
    }
  }
  for (const auto& a : alerts) {
    EXPECT_GE(firing[a], 1) << a << " is never tested firing";
    EXPECT_GE(quiet[a], 1) << a << " is never tested not firing (exp_alerts: [])";
  }
  for (const auto& [a, n] : firing) EXPECT_TRUE(alerts.count(a)) << a << " is tested but not in alerts.yml";
  for (const auto& [a, n] : quiet) EXPECT_TRUE(alerts.count(a)) << a << " is tested but not in alerts.yml";
}

// ---------------------------------------------------------------- deploy end to end

// The unit's CapabilityBoundingSet= ("CAP_BPF CAP_PERFMON ...") as setpriv
// names them ("bpf", "perfmon", ...).
std::vector<std::string> UnitCapabilities() {
  std::stringstream ss(ReadFile(kDeployDir + "/goscope-agent.service"));
  std::vector<std::string> out;
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("CapabilityBoundingSet=", 0) != 0) continue;
    std::stringstream caps(line.substr(line.find('=') + 1));
    for (std::string cap; caps >> cap;) {
      std::string name = cap.rfind("CAP_", 0) == 0 ? cap.substr(4) : cap;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back(name);
    }
  }
  return out;
}

// setpriv's "-all,+bpf,+perfmon" for a bounding set.
std::string BoundingSet(const std::vector<std::string>& caps) {
  std::string out = "-all";
  for (const auto& c : caps) out += ",+" + c;
  return out;
}

// A Go program (agentprog, 10 blocked goroutines) running as nobody, from a
// copy at a path of this test's own so the agent's include rule matches it
// alone (other tests run agentprog too), and an agent config and token file.
class UnitScenario {
 public:
  void Start() {
    std::string program;
    for (const auto& b : testing::LoadTestBinaries())
      if (b.name == "agentprog" && b.variant == "stripped" && b.go_version.starts_with("go1.22")) program = b.path;
    ASSERT_FALSE(program.empty()) << "go1.22 agentprog-stripped missing from the test binaries";
    ::chmod(dir.path().c_str(), 0755);
    exe = dir.path() + "/agentprog";
    fs::copy_file(program, exe);
    ::chmod(exe.c_str(), 0755);
    config = WriteFile(dir.path(), "agent.json", R"({"include": [{"exe": ")" + exe + R"("}]})", 0644);
    token_file = WriteFile(dir.path(), "token", "unit-" + std::to_string(::getpid()) + "-tok3n\n", 0600);
    target = std::make_unique<heaptest::Child>(
        std::vector<std::string>{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, "10",
                                 "idle"});
    auto ready = target->WaitFor(0, "goroutines", 10000);
    ASSERT_TRUE(ready.has_value()) << target->err();
    // "agentprog: pid P goroutines G": G is runtime.NumGoroutine(), the oracle.
    goroutines = std::stod(ready->substr(ready->rfind(' ') + 1));
  }

  // `goscope agent` as the unit starts it: uid 0, only these capabilities in
  // its bounding set (so in its effective set), no_new_privs.
  std::unique_ptr<heaptest::Child> Agent(const std::vector<std::string>& caps,
                                         const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--bounding-set=" + BoundingSet(caps), "--inh-caps=-all",
                                     "--no-new-privs",   GOSCOPE_BINARY,  "agent",
                                     "--config",         config,          "--listen",
                                     "127.0.0.1:0",      "--profile-dir", dir.path() + "/profiles"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<heaptest::Child>(argv);
  }

  // The port from the agent's "listening on 127.0.0.1:PORT" line; 0 if it
  // does not get that far.
  static int Port(heaptest::Child& agent) {
    auto line = agent.WaitFor(1, "listening on 127.0.0.1:", 20000);
    return line ? std::stoi(line->substr(line->rfind(':') + 1)) : 0;
  }

  heaptest::TempDir dir;
  std::string exe, config, token_file;
  std::unique_ptr<heaptest::Child> target;
  double goroutines = 0;
};

bool CanRunScenario(std::string* why) {
  if (::geteuid() != 0) return *why = "needs root to run the target as another user", false;
  if (::access("/usr/bin/setpriv", X_OK) != 0) return *why = "setpriv (util-linux) not installed", false;
  return true;
}

// The agent as the systemd unit runs it: uid 0 holding only the unit's
// bounding set, no_new_privs; serving behind a bearer token; its program a Go
// process of another user (nobody). Real Prometheus scrapes it and evaluates
// deploy/prometheus/alerts.yml.
TEST(PrometheusDeploy, AgentWithTheUnitsCapabilitiesIsScrapedAndTheRulesEvaluate) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  GOSCOPE_REQUIRE_TOOL_OR_SKIP(testing::kPrometheusBinary, "prometheus");
  std::string why;
  if (!CanRunScenario(&why)) GTEST_SKIP() << why;
  const std::vector<std::string> caps = UnitCapabilities();
  ASSERT_FALSE(caps.empty()) << "no CapabilityBoundingSet= in deploy/goscope-agent.service";
  for (const auto& c : caps) EXPECT_NE(c, "sys_admin") << "the unit must not need CAP_SYS_ADMIN";
  UnitScenario s;
  ASSERT_NO_FATAL_FAILURE(s.Start());

  auto agent = s.Agent(caps, {"--token-file", s.token_file});
  const int port = UnitScenario::Port(*agent);
  ASSERT_NE(port, 0) << agent->err();
  ASSERT_TRUE(agent->WaitFor(1, "tracing ", 20000).has_value()) << agent->err();

  PrometheusServer prom({.target = "127.0.0.1:" + std::to_string(port),
                         .bearer_token_file = s.token_file,
                         .rule_files = {kDeployDir + "/prometheus/alerts.yml"}});
  const std::string pid = std::to_string(s.target->pid());
  nlohmann::json r = prom.WaitForQuery(
      "goscope_goroutines{job=\"goscope-agent\",pid=\"" + pid + "\"}", 15s,
      [&](const nlohmann::json& res) { return PrometheusServer::Value(res[0]) == s.goroutines; });
  ASSERT_EQ(r.size(), 1u) << "agent log:\n"
                          << agent->err() << "\nprometheus: " << prom.Query("{pid=\"" + pid + "\"}").dump();
  EXPECT_EQ(r[0]["metric"].value("exe", ""), s.exe);
  EXPECT_EQ(r[0]["metric"].value("go_version", "").substr(0, 6), "go1.22");
  // The one write the agent may make, into a process of another user.
  r = prom.WaitForQuery("goscope_memprofilerate_written{pid=\"" + pid + "\"} == 1", 10s);
  EXPECT_EQ(r.size(), 1u) << agent->err();
  r = prom.Query("goscope_agent_probe_attach_failures_total").at("result");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(PrometheusServer::Value(r[0]), 0);

  // Every rule loads and evaluates against the agent's real series without
  // error, and none of them fires for a healthy agent and a quiet program.
  const size_t all_rules = AlertNames().size();
  std::set<std::string> healthy;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (healthy.size() < all_rules && std::chrono::steady_clock::now() < deadline) {
    healthy.clear();
    const nlohmann::json rules = prom.Rules();
    for (const auto& g : rules.at("groups"))
      for (const auto& rule : g.at("rules"))
        if (rule.value("health", "") == "ok" && rule.contains("lastEvaluation") &&
            rule.value("lastEvaluation", "").rfind("0001-", 0) != 0)
          healthy.insert(rule.value("name", ""));
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(healthy, AlertNames()) << prom.Rules().dump(1);
  // GoscopeAgentAbsent goes pending at the evaluations before the first
  // scrape; once the agent is scraped nothing may be pending or firing.
  nlohmann::json alerts;
  deadline = std::chrono::steady_clock::now() + 10s;
  do {
    alerts = prom.Query("ALERTS").at("result");
    if (alerts.empty()) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(alerts.empty()) << alerts.dump(1);

  // SIGTERM: the agent writes the rate back and exits 0, and Prometheus sees it go.
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(30000), 0) << agent->err();
  EXPECT_NE(agent->err().find("restored MemProfileRate in 1 processes"), std::string::npos) << agent->err();
  r = prom.WaitForQuery("up{job=\"goscope-agent\"} == 0", 10s);
  EXPECT_EQ(r.size(), 1u);
}

// deploy/README.md says what each of the unit's capabilities is for; here
// each is shown needed: without any one of them the agent does not serve the
// other user's process (it refuses to start, dies, or leaves it untraced).
TEST(PrometheusDeploy, AgentNeedsEveryCapabilityOfTheUnit) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  std::string why;
  if (!CanRunScenario(&why)) GTEST_SKIP() << why;
  const std::vector<std::string> caps = UnitCapabilities();
  ASSERT_FALSE(caps.empty());
  UnitScenario s;
  ASSERT_NO_FATAL_FAILURE(s.Start());
  const std::string series = "goscope_goroutines{pid=\"" + std::to_string(s.target->pid()) + "\"";
  // Whether an agent with these capabilities serves the target's series
  // within the time the full set needs (one refresh, 2 s, and slack).
  auto serves = [&](const std::vector<std::string>& with, std::string* log) {
    auto agent = s.Agent(with, {"--no-write"});
    const int port = UnitScenario::Port(*agent);
    bool served = false;
    if (port != 0 && agent->WaitFor(1, "tracing ", 20000)) {
      for (int i = 0; i < 12 && !served; i++) {
        std::this_thread::sleep_for(500ms);
        served = PrometheusServer::HttpGet(static_cast<uint16_t>(port), "/metrics", 5s).body.find(series) !=
                 std::string::npos;
      }
      agent->Signal(SIGTERM);
    }
    agent->Wait(30000);
    *log = agent->err();
    return served;
  };
  std::string log;
  // The control: with all of them it does (so a failure below is the
  // missing capability's, not this harness's).
  ASSERT_TRUE(serves(caps, &log)) << log;
  for (const auto& missing : caps) {
    std::vector<std::string> fewer;
    for (const auto& c : caps)
      if (c != missing) fewer.push_back(c);
    EXPECT_FALSE(serves(fewer, &log)) << "without CAP_" << missing << " it still traced the process:\n" << log;
    EXPECT_EQ(log.find("setpriv:"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace goscope
