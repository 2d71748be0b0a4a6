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
//
// Header-only on purpose: tests/CMakeLists.txt compiles only
// tests/unit/*_test.cc into the test executable.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "error.h"
#include "tool_required.h"

namespace goscope::testing {

inline constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
inline constexpr const char* kPromtoolBinary = "/usr/bin/promtool";


struct PrometheusServerOptions {
  std::string target;               // "127.0.0.1:PORT", scraped over plain HTTP
  std::string job = "goscope-agent";  // the job label, as deploy/prometheus/scrape.yml names it
  std::string metrics_path = "/metrics";
  std::string bearer_token_file;    // sent as "Authorization: Bearer <contents>" when set
  std::vector<std::string> rule_files;  // absolute paths, evaluated every interval
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
  explicit PrometheusServer(PrometheusServerOptions options) : options_(std::move(options)) {
    char tmpl[] = "/tmp/goscope-prometheus-XXXXXX";
    if (!::mkdtemp(tmpl)) throw Error(fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
    dir_ = tmpl;
    try {
      WriteConfig();
      Spawn();
      WaitUntilReady();
    } catch (...) {
      Stop();
      throw;
    }
  }
  ~PrometheusServer() { Stop(); }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }  // storage, config and log; gone after Stop
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

  // What the server printed so far (its log goes to a file in dir()).
  std::string Log() const {
    std::ifstream in(dir_ + "/prometheus.log", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // GET path_and_query from the server. Throws Error if it cannot be reached.
  PrometheusHttpReply Get(const std::string& path_and_query) const {
    return HttpGet(port_, path_and_query, std::chrono::seconds(10));
  }

  // GET an /api/v1/ endpoint and return its "data". Throws Error, with the
  // server's errorType and error, for anything but {"status":"success"}.
  nlohmann::json Api(const std::string& path_and_query) const {
    PrometheusHttpReply r = Get(path_and_query);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      throw Error(fmt::format("prometheus {}: HTTP {}, not JSON: {}", path_and_query, r.status, r.body.substr(0, 300)));
    if (r.status != 200 || j.value("status", "") != "success")
      throw Error(fmt::format("prometheus {}: HTTP {}: {}: {}", path_and_query, r.status, j.value("errorType", "?"),
                              j.value("error", "?")));
    return j.at("data");
  }

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
                              const std::function<bool(const nlohmann::json&)>& accept = nullptr) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      nlohmann::json data = Query(promql);
      const nlohmann::json& result = data.at("result");
      if (result.is_array() && !result.empty() && (!accept || accept(result))) return result;
      if (std::chrono::steady_clock::now() >= deadline) return nlohmann::json::array();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Waits until the target has been scraped at least once (health "up" or
  // "down", not "unknown") and returns its entry from /api/v1/targets; null
  // on timeout.
  nlohmann::json WaitForScrape(std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const nlohmann::json targets = Targets();  // not in the for: .at() of a temporary would dangle
      for (const auto& t : targets.at("activeTargets"))
        if (t.value("health", "unknown") != "unknown") return t;
      if (std::chrono::steady_clock::now() >= deadline) return nullptr;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // The value of one sample of a vector result ({"metric":{...},"value":[t,"v"]}).
  static double Value(const nlohmann::json& sample) {
    return std::stod(sample.at("value").at(1).get<std::string>());
  }

  // SIGTERM, then up to 10 s for a clean shutdown (SIGKILL after that), then
  // the temp dir is removed. Returns the exit status (0: a clean shutdown;
  // 128+N: killed by signal N). Idempotent: later calls return the same.
  int Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      exit_status_ = WaitExit(std::chrono::seconds(10));
      if (exit_status_ < 0 && ::kill(pid_, 0) == 0) {
        ::kill(pid_, SIGKILL);
        exit_status_ = WaitExit(std::chrono::seconds(10));
      }
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
    return exit_status_;
  }

  // %-encodes everything but RFC 3986's unreserved characters.
  static std::string UrlEncode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
        out += static_cast<char>(c);
      else
        out += fmt::format("%{:02X}", c);
    }
    return out;
  }

  // One HTTP/1.0 GET to 127.0.0.1:port. HTTP/1.0 so that Go's server
  // answers without chunked encoding and closes: the body is what follows
  // the head, up to EOF. Throws Error on connect, I/O or timeout.
  static PrometheusHttpReply HttpGet(uint16_t port, const std::string& path_and_query,
                                     std::chrono::milliseconds timeout) {
    const std::string what = fmt::format("GET http://127.0.0.1:{}{}", port, path_and_query);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(fmt::format("{}: socket: {}", what, std::strerror(errno)));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw Error(fmt::format("{}: connect: {}", what, std::strerror(errno)));
    const std::string request =
        fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nUser-Agent: goscope-tests\r\n\r\n", path_and_query, port);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto wait = [&](short events) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, events, 0};
      int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (n == 0) throw Error(fmt::format("{}: no answer within {} ms", what, timeout.count()));
      if (n < 0 && errno != EINTR) throw Error(fmt::format("{}: poll: {}", what, std::strerror(errno)));
    };
    for (size_t sent = 0; sent < request.size();) {
      wait(POLLOUT);
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EINTR && errno != EAGAIN)
        throw Error(fmt::format("{}: send: {}", what, std::strerror(errno)));
      if (n > 0) sent += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[16384];
    for (;;) {
      wait(POLLIN);
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw Error(fmt::format("{}: recv: {}", what, std::strerror(errno)));
      }
      raw.append(buf, static_cast<size_t>(n));
    }
    // "HTTP/1.x NNN Reason\r\n...\r\n\r\nbody"
    size_t head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12 || head_end == std::string::npos)
      throw Error(fmt::format("{}: not an HTTP response: {}", what, raw.substr(0, 200)));
    PrometheusHttpReply reply;
    reply.status = std::atoi(raw.c_str() + 9);
    reply.body = raw.substr(head_end + 4);
    return reply;
  }

 private:
  // The config as JSON, which is YAML too: no quoting rules to get wrong.
  void WriteConfig() {
    const std::string interval = fmt::format("{}s", options_.interval_seconds);
    nlohmann::json scrape = {
        {"job_name", options_.job},
        {"metrics_path", options_.metrics_path},
        {"scrape_interval", interval},
        {"scrape_timeout", interval},  // may not exceed the interval
        {"static_configs", nlohmann::json::array({{{"targets", {options_.target}}}})},
    };
    if (!options_.bearer_token_file.empty())
      scrape["authorization"] = {{"type", "Bearer"}, {"credentials_file", options_.bearer_token_file}};
    nlohmann::json config = {
        {"global", {{"scrape_interval", interval}, {"evaluation_interval", interval}}},
        {"scrape_configs", nlohmann::json::array({scrape})},
    };
    if (!options_.rule_files.empty()) config["rule_files"] = options_.rule_files;
    std::ofstream out(dir_ + "/prometheus.yml", std::ios::binary);
    out << config.dump(2) << "\n";
    if (!out.flush()) throw Error("writing " + dir_ + "/prometheus.yml failed");
  }

  void Spawn() {
    // Everything the child needs is built before fork: after it only
    // async-signal-safe calls are allowed (the test has threads).
    std::vector<std::string> args = {
        kPrometheusBinary,
        "--config.file=" + dir_ + "/prometheus.yml",
        "--storage.tsdb.path=" + dir_ + "/data",
        "--web.listen-address=127.0.0.1:0",
        "--log.level=info",
    };
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // A clean environment: no proxy settings, no GODEBUG or GOMAXPROCS from
    // the test's environment.
    std::string home = "HOME=" + dir_;
    char path_env[] = "PATH=/usr/bin:/bin";
    std::vector<char*> envp = {path_env, home.data(), nullptr};
    const std::string log = dir_ + "/prometheus.log";
    const pid_t parent = ::getpid();
    // Closed by the exec: EOF on it means the child is Prometheus now (until
    // then its /proc/PID/fd still holds the test's sockets); an errno on it
    // means exec failed.
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0) throw Error(fmt::format("pipe2: {}", std::strerror(errno)));

    pid_t pid = ::fork();
    if (pid < 0) {
      int err = errno;
      ::close(exec_pipe[0]);
      ::close(exec_pipe[1]);
      throw Error(fmt::format("fork: {}", std::strerror(err)));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the test died before prctl
      int err = 0;
      int null_fd = ::open("/dev/null", O_RDONLY);
      int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (null_fd >= 0 && log_fd >= 0) {
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        // Nothing of the test's (a leaked descriptor, another server's
        // socket) survives into Prometheus.
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        if (::chdir(dir_.c_str()) == 0) ::execve(argv[0], argv.data(), envp.data());
      }
      err = errno;
      (void)!::write(exec_pipe[1], &err, sizeof err);
      ::_exit(127);
    }
    pid_ = pid;
    ::close(exec_pipe[1]);
    int err = 0;
    ssize_t n;
    while ((n = ::read(exec_pipe[0], &err, sizeof err)) < 0 && errno == EINTR) {
    }
    ::close(exec_pipe[0]);
    if (n > 0) throw Error(fmt::format("cannot run {}: {}", kPrometheusBinary, std::strerror(err)));
  }

  void WaitUntilReady() {
    auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    auto fail = [&](const std::string& why) {
      throw Error(fmt::format("prometheus (pid {}, {}): {}; its log:\n{}", pid_, dir_, why, Log()));
    };
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exit_status_ = DecodeStatus(status);
        fail(fmt::format("exited with status {} before it was ready", exit_status_));
      }
      if (port_ == 0) port_ = ListeningPort(pid_);
      if (port_ != 0) {
        try {
          if (HttpGet(port_, "/-/ready", std::chrono::seconds(2)).status == 200) return;
        } catch (const Error&) {
          // listening but not answering yet
        }
      }
      if (std::chrono::steady_clock::now() >= deadline)
        fail(fmt::format("not ready within {} ms", options_.start_timeout.count()));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // The TCP port pid listens on: the inodes of its sockets (/proc/PID/fd
  // links "socket:[N]") matched against LISTEN entries of /proc/PID/net/tcp.
  // 0 while it listens on none.
  static uint16_t ListeningPort(pid_t pid) {
    std::set<unsigned long> inodes;
    const std::string fd_dir = fmt::format("/proc/{}/fd", pid);
    if (DIR* d = ::opendir(fd_dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        char target[64];
        ssize_t n = ::readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        unsigned long ino = 0;
        if (std::sscanf(target, "socket:[%lu]", &ino) == 1) inodes.insert(ino);
      }
      ::closedir(d);
    }
    std::ifstream tcp(fmt::format("/proc/{}/net/tcp", pid));
    std::string line;
    std::getline(tcp, line);  // header
    while (std::getline(tcp, line)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      std::istringstream in(line);
      std::string sl, local, remote, state, txrx, trwhen, retr, uid, timeout;
      unsigned long inode = 0;
      if (!(in >> sl >> local >> remote >> state >> txrx >> trwhen >> retr >> uid >> timeout >> inode)) continue;
      if (state != "0A" || !inodes.count(inode)) continue;  // 0A: TCP_LISTEN
      size_t colon = local.find(':');
      if (colon != std::string::npos) return static_cast<uint16_t>(std::stoul(local.substr(colon + 1), nullptr, 16));
    }
    return 0;
  }

  static int DecodeStatus(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  }

  // The exit status once pid_ has exited, -1 if it is still running at timeout.
  int WaitExit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return DecodeStatus(status);
      if (r < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  PrometheusServerOptions options_;
  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int exit_status_ = -1;
};

}  // namespace goscope::testing
