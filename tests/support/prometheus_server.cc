#include "prometheus_server.h"

#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "error.h"
#include "temp_dir.h"

namespace goscope::testing {

// Starts the server and waits until /-/ready answers 200. Throws Error
// with the server's log when it exits or is not ready in time.
PrometheusServer::PrometheusServer(PrometheusServerOptions options) : options_(std::move(options)) {
  dir_ = MakeTempDir("prometheus");
  if (dir_.empty()) throw Error("no temp dir for prometheus");
  try {
    WriteConfig();
    Spawn();
    WaitUntilReady();
  } catch (...) {
    Stop();
    throw;
  }
}


// What the server printed so far (its log goes to a file in dir()).
std::string PrometheusServer::Log() const {
  std::ifstream in(dir_ + "/prometheus.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET path_and_query from the server. Throws Error if it cannot be reached.
PrometheusHttpReply PrometheusServer::Get(const std::string& path_and_query) const {
  return HttpGet(port_, path_and_query, std::chrono::seconds(10));
}

// GET an /api/v1/ endpoint and return its "data". Throws Error, with the
// server's errorType and error, for anything but {"status":"success"}.
nlohmann::json PrometheusServer::Api(const std::string& path_and_query) const {
  PrometheusHttpReply r = Get(path_and_query);
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw Error(fmt::format("prometheus {}: HTTP {}, not JSON: {}", path_and_query, r.status, r.body.substr(0, 300)));
  if (r.status != 200 || j.value("status", "") != "success")
    throw Error(fmt::format("prometheus {}: HTTP {}: {}: {}", path_and_query, r.status, j.value("errorType", "?"),
                            j.value("error", "?")));
  return j.at("data");
}

// Runs the instant query until its result is a non-empty vector for which
// accept (if given) holds, and returns that result array; an empty array
// if timeout passes first. Query errors throw at once: a bad query does not
// get better by waiting.
nlohmann::json PrometheusServer::WaitForQuery(const std::string& promql, std::chrono::milliseconds timeout,
                                              const std::function<bool(const nlohmann::json&)>& accept) const {
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
nlohmann::json PrometheusServer::WaitForScrape(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const nlohmann::json targets = Targets();  // not in the for: .at() of a temporary would dangle
    for (const auto& t : targets.at("activeTargets"))
      if (t.value("health", "unknown") != "unknown") return t;
    if (std::chrono::steady_clock::now() >= deadline) return nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// SIGTERM, then up to 10 s for a clean shutdown (SIGKILL after that), then
// the temp dir is removed. Returns the exit status (0: a clean shutdown;
// 128+N: killed by signal N). Idempotent: later calls return the same.
int PrometheusServer::Stop() {
  if (child_) {
    child_->Signal(SIGTERM);
    if (!child_->WaitForExit(10000)) child_->Kill(SIGKILL);
    exit_status_ = child_->exit_code();
    child_.reset();
  }
  if (!dir_.empty()) {
    RemoveTree(dir_);
    dir_.clear();
  }
  return exit_status_;
}

// %-encodes everything but RFC 3986's unreserved characters.
std::string PrometheusServer::UrlEncode(std::string_view s) {
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
PrometheusHttpReply PrometheusServer::HttpGet(uint16_t port, const std::string& path_and_query,
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

// The config as JSON, which is YAML too: no quoting rules to get wrong.
void PrometheusServer::WriteConfig() {
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

void PrometheusServer::Spawn() {
  const std::string log = dir_ + "/prometheus.log";
  child_ = std::make_unique<Child>(
      std::vector<std::string>{
          kPrometheusBinary,
          "--config.file=" + dir_ + "/prometheus.yml",
          "--storage.tsdb.path=" + dir_ + "/data",
          "--web.listen-address=127.0.0.1:0",
          "--log.level=info",
      },
      ChildOptions{.in = Io::kNull,
                   .out = Io::kFile,
                   .err = Io::kFile,
                   .out_path = log,
                   .err_path = log,
                   // A clean environment: no proxy settings, no GODEBUG or
                   // GOMAXPROCS from the test's environment.
                   .env = std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=" + dir_},
                   .cwd = dir_,
                   .die_with_parent = true,
                   // Nothing of the test's (a leaked descriptor, another
                   // server's socket) survives into Prometheus.
                   .close_other_fds = true});
  if (!child_->started()) throw Error(fmt::format("cannot start {}: {}", kPrometheusBinary, std::strerror(errno)));
  if (int err = child_->exec_error())
    throw Error(fmt::format("cannot run {}: {}", kPrometheusBinary, std::strerror(err)));
}

void PrometheusServer::WaitUntilReady() {
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto fail = [&](const std::string& why) {
    throw Error(fmt::format("prometheus (pid {}, {}): {}; its log:\n{}", pid(), dir_, why, Log()));
  };
  for (;;) {
    if (child_->Exited()) {
      exit_status_ = child_->exit_code();
      fail(fmt::format("exited with status {} before it was ready", exit_status_));
    }
    if (port_ == 0) port_ = ListeningPort(child_->pid());
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
uint16_t PrometheusServer::ListeningPort(pid_t pid) {
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

}  // namespace goscope::testing
