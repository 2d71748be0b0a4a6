#include "agent_under_test.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "testbin.h"

namespace goscope::testing {

AgentUnderTest::AgentUnderTest(std::string include, nlohmann::json extra_config, std::vector<std::string> extra_args) {
  nlohmann::json config = {{"include", {{{"exe", include}}}}};
  config.update(extra_config);
  std::ofstream(config_.path() + "/agent.json") << config.dump();
  std::vector<std::string> argv = {GOSCOPE_BINARY, "agent", "--listen", "127.0.0.1:0", "--config",
                                   config_.path() + "/agent.json"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  child_ = std::make_unique<Child>(argv);
  auto line = child_->WaitFor(kStderr, "listening on 127.0.0.1:", 30000);
  if (line) port_ = std::stoi(line->substr(line->rfind(':') + 1));
  child_->WaitFor(kStderr, "tracing ", 30000);
}

AgentUnderTest::~AgentUnderTest() {
  child_->Signal(SIGTERM);
  child_->Wait(30000);
}

std::string AgentUnderTest::Get(const std::string& path, int* rc) const {
  int code = -1;
  std::string body = RunCommand("curl -sf --max-time 10 " + ShellQuote(Url(path)), "", &code);
  if (rc) *rc = code;
  return body;
}

std::string AgentUnderTest::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

double MetricValue(const std::string& metrics, const std::string& name, pid_t pid) {
  const std::regex line(pid ? "^" + name + R"re(\{pid=")re" + std::to_string(pid) + R"re(".*\} (\S+)$)re"
                            : "^" + name + R"re( (\S+)$)re");
  std::istringstream in(metrics);
  std::string l;
  std::smatch m;
  while (std::getline(in, l))
    if (std::regex_match(l, m, line)) return std::stod(m[1]);
  return -1;
}

bool WaitForMetrics(const AgentUnderTest& a, const std::function<bool(const std::string&)>& pred, std::string* last,
                    int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    *last = a.Get("/metrics");
    if (pred(*last)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

}  // namespace goscope::testing
