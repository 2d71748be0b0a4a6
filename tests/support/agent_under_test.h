// `goscope agent` as the tests run it: on a free loopback port, watching only
// the programs its include glob names (ctest runs other tests beside it,
// whose programs are not its business), stopped with SIGTERM when done; and
// the metrics page read back.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child.h"
#include "temp_dir.h"

namespace goscope::testing {

class AgentUnderTest {
 public:
  // include: an exe glob; extra_config: merged into the config file;
  // extra_args: after the command's own (e.g. "--profile-dir", DIR).
  explicit AgentUnderTest(std::string include, nlohmann::json extra_config = nlohmann::json::object(),
                          std::vector<std::string> extra_args = {});
  ~AgentUnderTest();
  AgentUnderTest(const AgentUnderTest&) = delete;
  AgentUnderTest& operator=(const AgentUnderTest&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  Child& child() { return *child_; }
  // curl -sf: the body, and in *rc curl's exit status (22 for an HTTP error).
  std::string Get(const std::string& path, int* rc = nullptr) const;
  std::string Url(const std::string& path) const;

 private:
  TempDir config_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

// The value of metric name for pid (pid 0: the unlabelled sample), or -1.
double MetricValue(const std::string& metrics, const std::string& name, pid_t pid = 0);

// Polls the agent's metrics until pred holds or timeout; *last: the last page.
bool WaitForMetrics(const AgentUnderTest& a, const std::function<bool(const std::string&)>& pred, std::string* last,
                    int timeout_ms = 20000);

}  // namespace goscope::testing
