// A real Prometheus server for tests: Debian's /usr/bin/prometheus (package
// `prometheus`, installed by scripts/install-deps.sh) scraping one target
// every second, queried through its HTTP API. What the agent's users run,
// so a test that passes here passes a real scrape, a real exposition parser
// and real PromQL, not our idea of them.
//
//   PrometheusServer prom({.target = "127.0.0.1:" + std::to_string(port)});
//   nlohmann::json r = prom.WaitForQuery("goscope_goroutines{pid=\"42\"}", 10s);
//   double v = PrometheusServer::Value(r.at(0));
//
// The server listens on 127.0.0.1:0: the kernel picks the port and the port
// is read back from the server's own listening socket (/proc/PID/fd against
// /proc/PID/net/tcp), so concurrent tests never race for one. Storage and
// config live in a temp dir removed on Stop. The child dies with the thread
// that started it (PR_SET_PDEATHSIG), so a crashed test leaves no server
// behind. Nothing of Debian's prometheus.service is used or touched.
//
// Timing: Prometheus 2.42 hands new targets to its scrapers every 5 s, so
// the first scrape lands 5-6 s after start, whatever the interval; give
// WaitForScrape and WaitForQuery 10 s or more.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "child.h"
#include "tool_required.h"  // its users skip without /usr/bin/prometheus: GOSCOPE_REQUIRE_TOOL_OR_SKIP

namespace goscope::testing {

inline constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
inline constexpr const char* kPromtoolBinary = "/usr/bin/promtool";


struct PrometheusServerOptions {
  std::string target{};             // "127.0.0.1:PORT", scraped over plain HTTP
  std::string job = "goscope-agent";  // the job label, as deploy/prometheus/scrape.yml names it
  std::string metrics_path = "/metrics";
  std::string bearer_token_file{};  // sent as "Authorization: Bearer <contents>" when set
  std::vector<std::string> rule_files{};  // absolute paths, evaluated every interval
  int interval_seconds = 1;         // scrape and rule evaluation interval
  std::chrono::milliseconds start_timeout{20000};
};

// An HTTP answer from the server: status and body.
struct PrometheusHttpReply {
  int status = 0;
  std::string body;
};

class PrometheusServer {
 public:
  // Starts the server and waits until /-/ready answers 200. Throws Error
  // with the server's log when it exits or is not ready in time.
  explicit PrometheusServer(PrometheusServerOptions options);
  ~PrometheusServer() { Stop(); }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  const std::string& dir() const { return dir_; }  // storage, config and log; gone after Stop
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // What the server printed so far (its log goes to a file in dir()).
  std::string Log() const;

  // GET path_and_query from the server. Throws Error if it cannot be reached.
  PrometheusHttpReply Get(const std::string& path_and_query) const;

  // GET an /api/v1/ endpoint and return its "data". Throws Error, with the
  // server's errorType and error, for anything but {"status":"success"}.
  nlohmann::json Api(const std::string& path_and_query) const;

  // An instant query now: {"resultType": "vector", "result": [...]}.
  nlohmann::json Query(const std::string& promql) const { return Api("/api/v1/query?query=" + UrlEncode(promql)); }

  // {"activeTargets": [...], "droppedTargets": [...]}.
  nlohmann::json Targets() const { return Api("/api/v1/targets"); }

  // {"groups": [...]} of the loaded rule files, with each rule's health and state.
  nlohmann::json Rules() const { return Api("/api/v1/rules"); }

  // Runs the instant query until its result is a non-empty vector for which
  // accept (if given) holds, and returns that result array; an empty array
  // if timeout passes first. Query errors throw at once: a bad query does not
  // get better by waiting.
  nlohmann::json WaitForQuery(const std::string& promql, std::chrono::milliseconds timeout,
                              const std::function<bool(const nlohmann::json&)>& accept = nullptr) const;

  // Waits until the target has been scraped at least once (health "up" or
  // "down", not "unknown") and returns its entry from /api/v1/targets; null
  // on timeout.
  nlohmann::json WaitForScrape(std::chrono::milliseconds timeout) const;

  // The value of one sample of a vector result ({"metric":{...},"value":[t,"v"]}).
  static double Value(const nlohmann::json& sample) {
    return std::stod(sample.at("value").at(1).get<std::string>());
  }

  // SIGTERM, then up to 10 s for a clean shutdown (SIGKILL after that), then
  // the temp dir is removed. Returns the exit status (0: a clean shutdown;
  // 128+N: killed by signal N). Idempotent: later calls return the same.
  int Stop();

  // %-encodes everything but RFC 3986's unreserved characters.
  static std::string UrlEncode(std::string_view s);

  // One HTTP/1.0 GET to 127.0.0.1:port. HTTP/1.0 so that Go's server
  // answers without chunked encoding and closes: the body is what follows
  // the head, up to EOF. Throws Error on connect, I/O or timeout.
  static PrometheusHttpReply HttpGet(uint16_t port, const std::string& path_and_query,
                                     std::chrono::milliseconds timeout);

 private:
  void WriteConfig();
  void Spawn();
  void WaitUntilReady();
  // The TCP port pid listens on: the inodes of its sockets (/proc/PID/fd
  // links "socket:[N]") matched against LISTEN entries of /proc/PID/net/tcp.
  // 0 while it listens on none.
  static uint16_t ListeningPort(pid_t pid);

  PrometheusServerOptions options_;
  std::string dir_;
  std::unique_ptr<Child> child_;
  uint16_t port_ = 0;
  int exit_status_ = -1;
};

}  // namespace goscope::testing
