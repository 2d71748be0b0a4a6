// The agent's HTTP pieces against real things: the server's own checks of
// request targets and heads, then the server (libmicrohttpd and the agent's
// limits) on 127.0.0.1:0 driven through real TCP sockets and curl: heads
// malformed, partial and oversized, each refusal and its status; routing by
// exact path (no file is ever served), methods, bearer tokens, the rate
// limit, the connection caps (global and per client), the slowloris
// deadline, handler failures, a client that will not read not blocking the
// others, a flood from one client not starving another, a prompt Stop, and
// the token file's rules. A /metrics page served by the server is fetched
// with curl and checked by promtool.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "error.h"
#include "agent/http_request.h"
#include "agent/http_server.h"
#include "output/prometheus_text.h"
#include "child.h"
#include "temp_dir.h"
#include "tool_required.h"

namespace goscope {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- target and head checks

TEST(HttpRequest, ParsesTargetAndQuery) {
  HttpRequest r;
  auto no = ParseRequestTarget("/debug/pprof/heap?seconds=30&name=a%20b+c&x=%2F%3F&seconds=99&flag&=skipped", &r);
  ASSERT_FALSE(no) << no->reason;
  EXPECT_EQ(r.path, "/debug/pprof/heap");
  std::map<std::string, std::string> want{{"seconds", "30"}, {"name", "a b c"}, {"x", "/?"}, {"flag", ""}};
  EXPECT_EQ(r.query, want);
}

TEST(HttpRequest, AcceptsAbsoluteFormAndKeepsThePathAsSent) {
  // absolute-form: the authority is dropped.
  HttpRequest r;
  ASSERT_FALSE(ParseRequestTarget("http://node:9464/metrics?x=1", &r));
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_EQ(r.query.at("x"), "1");
  ASSERT_FALSE(ParseRequestTarget("HTTP://node?x=2", &r));
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(r.query.at("x"), "2");
  // The path is not decoded or normalized: it never names anything but a handler.
  ASSERT_FALSE(ParseRequestTarget("/a/../%6detrics", &r));
  EXPECT_EQ(r.path, "/a/../%6detrics");
}

TEST(HttpRequest, RefusesBadTargets) {
  for (std::string target : {"", "metrics", "*", "http:///x", "/a\x01", "/a\x7f", "/\xc3\xa9", "/#frag", "/a b", "/%zz",
                             "/?a=%4", "/?a=%00", "/?a=%0a"}) {  // the last two decode to control characters
    HttpRequest r;
    auto no = ParseRequestTarget(target, &r);
    ASSERT_TRUE(no) << target;
    EXPECT_EQ(no->status, 400) << target;
    EXPECT_FALSE(no->reason.empty());
  }
}

TEST(HttpRequest, ChecksWhatAHeadMayHold) {
  auto check = [](std::vector<std::pair<std::string, std::string>> fields, int version_minor = 1,
                  std::string method = "GET") {
    HttpRequest r;
    r.method = method;
    r.version_minor = version_minor;
    for (auto& [name, value] : fields) r.headers.Add(name, value);
    auto no = CheckRequestHead(r);
    return no ? no->status : 0;
  };
  EXPECT_EQ(check({{"Host", "h"}}), 0);
  EXPECT_EQ(check({{"Host", "h"}, {"Content-Length", "0"}}), 0);  // no body
  EXPECT_EQ(check({}, 0), 0);                                      // HTTP/1.0 needs no Host
  EXPECT_EQ(check({}), 400);                                       // HTTP/1.1 does
  EXPECT_EQ(check({{"Host", "a"}, {"host", "b"}}), 400);
  EXPECT_EQ(check({{"Host", "h"}}, 1, "G(T"), 400);
  for (const char* name : {"Bad Name", "X ", "", "X\x01"}) EXPECT_EQ(check({{"Host", "h"}, {name, "x"}}), 400) << name;
  EXPECT_EQ(check({{"Host", "h"}, {"X", "a\rb"}}), 400);
  EXPECT_EQ(check({{"Host", "h"}, {"X", std::string("a\0b", 3)}}), 400);
  EXPECT_EQ(check({{"Host", "h"}, {"X", "a\tb"}}), 0);
  EXPECT_EQ(check({{"Host", "h"}, {"Transfer-Encoding", "chunked"}}), 400);
  EXPECT_EQ(check({{"Host", "h"}, {"Content-Length", "-1"}}), 400);
  EXPECT_EQ(check({{"Host", "h"}, {"Content-Length", "1"}, {"Content-Length", "2"}}), 400);
  EXPECT_EQ(check({{"Host", "h"}, {"Content-Length", "5"}}), 413);
  EXPECT_EQ(check({{"Host", "h"}, {"content-length", "99999999999999999999999"}}), 413);
}

// ---------------------------------------------------------------- over the wire

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string raw;
};

Response ParseResponse(const std::string& raw) {
  Response r;
  r.raw = raw;
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// A blocking client socket that gives up after 5 s, so no test can hang.
int Connect(uint16_t port, bool v6 = false) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Like Connect, from another loopback address: another client to the server.
int ConnectFrom(uint16_t port, const char* source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Response Exchange(uint16_t port, std::string_view request, bool v6 = false) {
  int fd = Connect(port, v6);
  if (fd < 0) return {};
  SendAll(fd, request);
  Response r = ParseResponse(ReadToEof(fd));
  ::close(fd);
  return r;
}

Response Get(uint16_t port, const std::string& target, const std::string& extra_headers = "",
             const std::string& method = "GET") {
  return Exchange(port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: goscope-test\r\n" +
                            extra_headers + "\r\n");
}

HttpServerOptions LocalOptions() {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.limits.rate_per_second = 1000;  // out of the way, except where the test is about it
  o.limits.rate_burst = 1000;
  return o;
}

HttpResponse Text(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Open connections, once at most `at_most` or after `wait`: the server
// counts a connection until libmicrohttpd has let go of it, a moment after
// its client saw it end.
size_t OpenConnections(const HttpServer& server, size_t at_most, milliseconds wait = milliseconds(500)) {
  auto deadline = Clock::now() + wait;
  while (server.open_connections() > at_most && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  return server.open_connections();
}

TEST(HttpServer, ServesExactPathsWithGetAndHead) {
  HttpServer server(LocalOptions());
  server.Handle("/metrics", [](const HttpRequest& req) {
    HttpResponse r = Text("seconds=" + (req.query.count("seconds") ? req.query.at("seconds") : "none") + "\n");
    r.content_type = std::string(kPrometheusContentType);
    r.headers.emplace_back("X-Goscope", "1");
    return r;
  });
  uint16_t port = server.Start();
  ASSERT_NE(port, 0);
  EXPECT_EQ(server.port(), port);

  Response r = Get(port, "/metrics?seconds=3%30");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, "seconds=30\n");
  EXPECT_EQ(r.headers["content-type"], kPrometheusContentType);
  EXPECT_EQ(r.headers["content-length"], "11");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_EQ(r.headers["x-goscope"], "1");
  EXPECT_TRUE(r.headers.count("date"));

  r = Get(port, "/metrics", "", "HEAD");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.headers["content-length"], "13");  // of the GET body ...
  EXPECT_EQ(r.body, "");                         // ... which is not sent

  // HTTP/1.0, no Host: fine.
  r = Exchange(port, "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 200) << r.raw;
}

TEST(HttpServer, UnknownPathsAre404AndNothingIsReadFromDisk) {
  HttpServer server(LocalOptions());
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  for (const char* path : {"/", "/../../etc/passwd", "/etc/passwd", "/metrics/", "/Metrics", "/%6detrics",
                           "/./metrics", "/a/../metrics", "/metrics/../../../../etc/passwd", "//metrics"}) {
    Response r = Get(port, path);
    EXPECT_EQ(r.status, 404) << path << "\n" << r.raw;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
  }
  // Absolute-form reaches the same handler.
  EXPECT_EQ(Get(port, "http://anything/metrics").status, 200);
}

TEST(HttpServer, OnlyGetAndHead) {
  HttpServer server(LocalOptions());
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"}) {
    Response r = Get(port, "/metrics", "", method);
    EXPECT_EQ(r.status, 405) << method << "\n" << r.raw;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  }
  EXPECT_EQ(Get(port, "/metrics", "Content-Length: 4\r\n", "POST").status, 413);
  EXPECT_EQ(Get(port, "/metrics", "Transfer-Encoding: chunked\r\n", "POST").status, 400);
}

TEST(HttpServer, MalformedRequestsGetTheirStatus) {
  HttpServer server(LocalOptions());
  server.Handle("/", [](const HttpRequest&) { return Text("root\n"); });
  uint16_t port = server.Start();
  EXPECT_EQ(Exchange(port, "GET / HTTP/2.0\r\n\r\n").status, 505);
  EXPECT_EQ(Exchange(port, "GET / HTTP/1.1\r\n\r\n").status, 400);  // no Host
  EXPECT_EQ(Exchange(port, "hello there\r\n\r\n").status, 400);
  EXPECT_EQ(Exchange(port, "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
  // A TLS client hello on the plain port is closed at once rather than left
  // to hang. (Its first line holds no space; libmicrohttpd answers such a
  // line by closing, where the old server sent a 400.)
  auto start = Clock::now();
  Response r = Exchange(port, std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n", 12));
  EXPECT_TRUE(r.status == 400 || r.raw.empty()) << r.raw;
  EXPECT_LT(SecondsSince(start), 1.0);
}

TEST(HttpServer, OversizeHeadIs431AndLongLineIs414) {
  HttpServer server(LocalOptions());
  server.Handle("/", [](const HttpRequest&) { return Text("root\n"); });
  uint16_t port = server.Start();
  Response r = Get(port, "/", "X-Big: " + std::string(9000, 'x') + "\r\n");
  EXPECT_EQ(r.status, 431) << r.raw.substr(0, 200);
  std::string many;
  for (int i = 0; i < 65; i++) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Get(port, "/", many).status, 431);
  EXPECT_EQ(Get(port, "/" + std::string(9000, 'a')).status, 414);
  // The limit is configurable.
  HttpServerOptions o = LocalOptions();
  o.limits.request.max_head_bytes = 256;
  HttpServer small(o);
  uint16_t small_port = small.Start();
  EXPECT_EQ(Get(small_port, "/", "X-Big: " + std::string(300, 'x') + "\r\n").status, 431);
}

// The heads the agent's old request parser was tested with, now sent to the
// server: libmicrohttpd reads them, the server checks what it lets through.
TEST(HttpServer, HeadsReachHandlersAsSent) {
  std::mutex mu;
  HttpRequest seen;
  HttpServer server(LocalOptions());
  for (const char* path : {"/debug/pprof/heap", "/m"}) {
    server.Handle(path, [&](const HttpRequest& req) {
      std::lock_guard<std::mutex> lock(mu);
      seen = req;
      return Text("ok\n");
    });
  }
  uint16_t port = server.Start();
  Response r = Exchange(port,
                        "GET /debug/pprof/heap?seconds=30&name=a%20b+c&x=%2F%3F&seconds=99&flag&=skipped HTTP/1.1\r\n"
                        "Host: node1:9464\r\n"
                        "user-agent:  Prometheus/2.42 \t\r\n"
                        "Accept: */*\r\n"
                        "\r\n");
  ASSERT_EQ(r.status, 200) << r.raw;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen.method, "GET");
    EXPECT_EQ(seen.path, "/debug/pprof/heap");
    EXPECT_EQ(seen.version_minor, 1);
    std::map<std::string, std::string> want{{"seconds", "30"}, {"name", "a b c"}, {"x", "/?"}, {"flag", ""}};
    EXPECT_EQ(seen.query, want);
    EXPECT_EQ(seen.headers.size(), 3u);
    EXPECT_EQ(seen.headers.Get("USER-AGENT").value_or("?"), "Prometheus/2.42");  // OWS trimmed, any case
    EXPECT_EQ(seen.headers.Get("host").value_or("?"), "node1:9464");
    EXPECT_FALSE(seen.headers.Get("Authorization").has_value());
  }
  // Bare LF line ends, blank lines before the request line, HTTP/1.0 without Host.
  r = Exchange(port, "\r\n\nGET /m HTTP/1.0\nX: y\n\n");
  ASSERT_EQ(r.status, 200) << r.raw;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen.path, "/m");
    EXPECT_EQ(seen.version_minor, 0);
    EXPECT_EQ(seen.headers.Get("X").value_or("?"), "y");
  }
  // Content-Length: 0 is no body.
  EXPECT_EQ(Exchange(port, "GET /m HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").status, 200);
}

TEST(HttpServer, MalformedHeadsGetTheirStatus) {
  HttpServer server(LocalOptions());
  server.Handle("/", [](const HttpRequest&) { return Text("root\n"); });
  uint16_t port = server.Start();
  struct Case {
    std::string input;
    int status;
  };
  const std::string host = "Host: h\r\n";
  const std::vector<Case> cases = {
      {"GET /\r\n\r\n", 400},                               // HTTP/0.9
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n" + host + "\r\n", 400},          // not a token
      {"GET / HTTP/1.1 \r\n\r\n", 400},
      {"GET / http/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.10\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},            // the HTTP/2 preface
      {"GET metrics HTTP/1.1\r\n" + host + "\r\n", 400},    // not origin-form
      {"GET * HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET http:///x HTTP/1.1\r\n" + host + "\r\n", 400},  // no authority
      {"GET /a\x01 HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /a\x7f HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /#frag HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /%zz HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /?a=%4 HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET /?a=%00 HTTP/1.1\r\n" + host + "\r\n", 400},     // decodes to a control character
      {"GET /?a=%0a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},                      // 1.1 without Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "NoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "X : x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "X: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", 413},
      {"GET / HTTP/1.1\r\n" + host + "content-length: 99999999999999999999999\r\n\r\n", 413},
      {"GET / HTTP/3.0\r\n" + host, 505},  // refused before the head ends
  };
  for (const auto& c : cases) {
    Response r = Exchange(port, c.input);
    EXPECT_EQ(r.status, c.status) << c.input << "\n" << r.raw;
  }
  // A request line without a space is not HTTP at all: libmicrohttpd closes
  // the connection at once, without an answer.
  const std::string tls_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12);
  for (const std::string& input : {std::string("GET\r\n\r\n"), tls_hello}) {
    auto start = Clock::now();
    Response r = Exchange(port, input);
    EXPECT_EQ(r.raw, "") << input;
    EXPECT_LT(SecondsSince(start), 1.0) << input;
  }
  // libmicrohttpd drops a field with an empty name, glues an obs-folded line
  // onto the field name, and ends a value at a NUL. No proxy reads the head
  // after it, so none of that can smuggle anything: served or refused, the
  // server goes on.
  std::string nul = "GET / HTTP/1.1\r\nHost: h\r\nX: a";
  nul += '\0';
  nul += "b\r\n\r\n";
  for (const std::string& input : {"GET / HTTP/1.1\r\n" + host + ": x\r\n\r\n",
                                   "GET / HTTP/1.1\r\n" + host + "X: a\r\n folded\r\n\r\n", nul}) {
    int status = Exchange(port, input).status;
    EXPECT_TRUE(status == 200 || status == 400) << input << " -> " << status;
  }
  EXPECT_EQ(Get(port, "/").status, 200);
}

// A client that sends part of a head and stops sending is never answered:
// the server closes the connection as soon as it sees the input end.
TEST(HttpServer, AnIncompleteHeadIsNeverAnswered) {
  HttpServerOptions o = LocalOptions();  // a 5 s deadline: a 408 would come too late
  o.limits.max_connections = 100;
  o.limits.max_connections_per_client = 100;
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  const std::string req = "GET /metrics?a=1 HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\n\r\n";
  std::vector<int> fds;
  for (size_t n = 0; n < req.size(); n++) {
    fds.push_back(Connect(port));
    ASSERT_GE(fds.back(), 0);
    SendAll(fds.back(), req.substr(0, n));
    ::shutdown(fds.back(), SHUT_WR);
  }
  auto start = Clock::now();
  for (size_t n = 0; n < fds.size(); n++) {
    EXPECT_EQ(ReadToEof(fds[n]), "") << "prefix of " << n << " bytes";
    ::close(fds[n]);
  }
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_EQ(OpenConnections(server, 0), 0u);
  EXPECT_EQ(Exchange(port, req).status, 200);
}

TEST(HttpServer, HeadLimitsAreConfigurableAndHoldBeforeTheHeadEnds) {
  HttpServerOptions o = LocalOptions();
  o.limits.request.max_head_bytes = 200;
  o.limits.request.max_headers = 4;
  HttpServer server(o);
  server.Handle("/", [](const HttpRequest&) { return Text("root\n"); });
  uint16_t port = server.Start();
  std::string line = "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n";
  EXPECT_EQ(Exchange(port, line + "Host: h\r\n\r\n").status, 414);
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(180, 'v') + "\r\n\r\n";
  EXPECT_EQ(Exchange(port, head).status, 431);
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 3; i++) many += "X" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Exchange(port, many + "\r\n").status, 200);            // 4 fields
  EXPECT_EQ(Exchange(port, many + "X9: v\r\n\r\n").status, 431);  // 5 fields
  // A head that has not ended is refused once it outgrows the memory the
  // server gives a connection, well before the deadline (5 s here).
  auto start = Clock::now();
  EXPECT_EQ(Exchange(port, "GET /" + std::string(64 * 1024, 'a')).status, 414);
  EXPECT_EQ(Exchange(port, "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(64 * 1024, 'v')).status, 431);
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST(HttpServer, BearerToken) {
  HttpServerOptions o = LocalOptions();
  o.bearer_token = "s3cr3t-T0ken_~+/=";
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();

  Response r = Get(port, "/metrics");
  EXPECT_EQ(r.status, 401) << r.raw;
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"goscope\"");
  r = Get(port, "/metrics", "Authorization: Bearer wrong\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer realm=\"goscope\", error=\"invalid_token\"");
  for (const char* bad : {"Bearer s3cr3t-T0ken_~+/", "Bearer s3cr3t-T0ken_~+/==", "Bearer S3cr3t-T0ken_~+/=",
                          "Basic s3cr3t-T0ken_~+/=", "s3cr3t-T0ken_~+/=", "Bearer", "Bearer "})
    EXPECT_EQ(Get(port, "/metrics", std::string("Authorization: ") + bad + "\r\n").status, 401) << bad;
  // Two Authorization fields: refused, whatever they hold.
  EXPECT_EQ(Get(port, "/metrics", "Authorization: Bearer s3cr3t-T0ken_~+/=\r\nAuthorization: Bearer x\r\n").status,
            401);

  r = Get(port, "/metrics", "Authorization: Bearer s3cr3t-T0ken_~+/=\r\n");
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body, "m\n");
  EXPECT_EQ(Get(port, "/metrics", "authorization: bearer s3cr3t-T0ken_~+/=\r\n").status, 200);  // scheme any case
  // Unauthenticated clients learn nothing about paths or methods.
  EXPECT_EQ(Get(port, "/nope").status, 401);
  EXPECT_EQ(Get(port, "/nope", "Authorization: Bearer s3cr3t-T0ken_~+/=\r\n").status, 404);
}

TEST(HttpServer, RefusesNonLoopbackWithoutTokenAndBadAddresses) {
  for (const char* addr : {"0.0.0.0:0", "[::]:0", "10.1.2.3:9464", "[2001:db8::1]:9464"}) {
    HttpServerOptions o;
    o.listen = addr;
    try {
      HttpServer s(o);
      ADD_FAILURE() << addr << " accepted without a token";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("without a bearer token"), std::string::npos) << e.what();
    }
  }
  for (const char* addr : {"127.0.0.1", "::1:80", "[::1]", "[::1]80", "node.example:9464", "127.0.0.1:65536",
                           "127.0.0.1:-1", "127.0.0.1:http", ":9464", "", "127.0.0.1:"}) {
    HttpServerOptions o;
    o.listen = addr;
    EXPECT_THROW(HttpServer{o}, Error) << addr;
  }
  // Loopback in every spelling needs no token.
  for (const char* addr : {"127.0.0.1:0", "127.0.0.2:0", "localhost:0", "[::1]:0", "[::ffff:127.0.0.1]:0"}) {
    HttpServerOptions o;
    o.listen = addr;
    EXPECT_NO_THROW(HttpServer{o}) << addr;
  }
  HttpServerOptions bad_token = LocalOptions();
  bad_token.bearer_token = "has space";
  EXPECT_THROW(HttpServer{bad_token}, Error);

  // All interfaces with a token: serves, and asks for the token.
  HttpServerOptions o = LocalOptions();
  o.listen = "0.0.0.0:0";
  o.bearer_token = "tok";
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  EXPECT_EQ(Get(port, "/metrics").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "Authorization: Bearer tok\r\n").status, 200);
}

TEST(HttpServer, ListenErrorsNameTheAddress) {
  HttpServer first(LocalOptions());
  uint16_t port = first.Start();
  // SO_REUSEADDR does not let two listeners share a port.
  HttpServerOptions o = LocalOptions();
  o.listen = "127.0.0.1:" + std::to_string(port);
  HttpServer second(o);
  try {
    second.Start();
    ADD_FAILURE() << "second listener on port " << port;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(o.listen), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  EXPECT_THROW(first.Start(), Error);  // twice
}

TEST(HttpServer, Ipv6Loopback) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (probe >= 0) ::close(probe);
  if (!ok) GTEST_SKIP() << "no IPv6 loopback here";
  HttpServerOptions o = LocalOptions();
  o.listen = "[::1]:0";
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("v6\n"); });
  uint16_t port = server.Start();
  Response r = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n", true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "v6\n");
}

TEST(HttpServer, RateLimitPerClient) {
  HttpServerOptions o = LocalOptions();
  o.limits.rate_per_second = 2;
  o.limits.rate_burst = 3;
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  for (int i = 0; i < 3; i++) EXPECT_EQ(Get(port, "/metrics").status, 200) << "request " << i;
  Response r = Get(port, "/metrics");
  EXPECT_EQ(r.status, 429) << r.raw;
  EXPECT_EQ(r.headers["retry-after"], "1");
  // Unknown paths and bad tokens cost a token too.
  EXPECT_EQ(Get(port, "/nope").status, 429);
  // Half a second buys one request (2/s), not two.
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(Get(port, "/metrics").status, 200);
  EXPECT_EQ(Get(port, "/metrics").status, 429);
}

TEST(HttpServer, SlowlorisGets408AtTheDeadline) {
  HttpServerOptions o = LocalOptions();
  o.limits.read_timeout = milliseconds(400);
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();

  // A byte every 50 ms keeps the connection busy but never finishes the head.
  int fd = Connect(port);
  ASSERT_GE(fd, 0);
  auto start = Clock::now();
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    SendAll(fd, "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Slow: ");
    while (!done && SecondsSince(start) < 3) {
      if (!SendAll(fd, "a")) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  Response r = ParseResponse(ReadToEof(fd));
  double elapsed = SecondsSince(start);
  done = true;
  trickle.join();
  ::close(fd);
  EXPECT_EQ(r.status, 408) << r.raw;
  EXPECT_GE(elapsed, 0.35);
  EXPECT_LT(elapsed, 1.5);

  // A client that connects and says nothing: the same.
  fd = Connect(port);
  start = Clock::now();
  r = ParseResponse(ReadToEof(fd));
  ::close(fd);
  EXPECT_EQ(r.status, 408) << r.raw;
  EXPECT_LT(SecondsSince(start), 1.5);
}

TEST(HttpServer, StalledClientsDoNotBlockOthers) {
  HttpServer server(LocalOptions());  // 5 s read timeout
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>('a' + i % 26);
  server.Handle("/big", [&](const HttpRequest&) { return Text(big); });
  server.Handle("/small", [](const HttpRequest&) { return Text("s\n"); });
  uint16_t port = server.Start();

  int silent = Connect(port);                                   // sends nothing
  int half = Connect(port);                                     // sends half a head
  SendAll(half, "GET /small HTTP/1.1\r\nHo");
  int not_reading = Connect(port);                              // asks for 8 MiB, reads none of it
  SendAll(not_reading, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  std::this_thread::sleep_for(milliseconds(100));

  auto start = Clock::now();
  for (int i = 0; i < 5; i++) EXPECT_EQ(Get(port, "/small").status, 200);
  EXPECT_LT(SecondsSince(start), 1.0);

  // The patient big download is still whole.
  Response r = ParseResponse(ReadToEof(not_reading));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big);
  // And the half head can still finish.
  SendAll(half, "st: h\r\n\r\n");
  EXPECT_EQ(ParseResponse(ReadToEof(half)).body, "s\n");
  for (int fd : {silent, half, not_reading}) ::close(fd);
}

TEST(HttpServer, ConnectionCapAnswers503) {
  HttpServerOptions o = LocalOptions();
  o.limits.max_connections = 2;
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  int a = Connect(port), b = Connect(port);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(milliseconds(100));  // both accepted
  int c = Connect(port);
  Response r = ParseResponse(ReadToEof(c));
  ::close(c);
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.headers["retry-after"], "1");
  // A held connection still works, and once both are done there is room again.
  SendAll(a, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(ParseResponse(ReadToEof(a)).status, 200);
  ::close(a);
  ::close(b);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(Get(port, "/metrics").status, 200);
}

TEST(HttpServer, PerClientCapAnswers503AndLeavesRoomForOthers) {
  HttpServerOptions o = LocalOptions();
  o.limits.max_connections_per_client = 2;
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  int a = ConnectFrom(port, "127.0.0.2"), b = ConnectFrom(port, "127.0.0.2");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(milliseconds(100));  // both accepted
  int c = ConnectFrom(port, "127.0.0.2");
  Response r = ParseResponse(ReadToEof(c));
  ::close(c);
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_NE(r.body.find("from this client"), std::string::npos) << r.body;
  // Another client is served meanwhile, as often as it likes.
  for (int i = 0; i < 5; i++) EXPECT_EQ(Get(port, "/metrics").status, 200);
  // Once the first client lets go of one, it may open another.
  ::close(a);
  EXPECT_EQ(OpenConnections(server, 1), 1u);
  c = ConnectFrom(port, "127.0.0.2");
  SendAll(c, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(ParseResponse(ReadToEof(c)).status, 200);
  ::close(c);
  ::close(b);
}

TEST(HttpServer, HandlerFailuresAre500AndTheServerGoesOn) {
  std::vector<std::string> logged;
  std::mutex mu;
  HttpServerOptions o = LocalOptions();
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    logged.push_back(line);
  };
  HttpServer server(o);
  server.Handle("/throws", [](const HttpRequest&) -> HttpResponse { throw Error("profile build failed: boom"); });
  server.Handle("/throws-int", [](const HttpRequest&) -> HttpResponse { throw 42; });
  server.Handle("/injects", [](const HttpRequest&) {
    HttpResponse r = Text("x");
    r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
    return r;
  });
  server.Handle("/length", [](const HttpRequest&) {
    HttpResponse r = Text("x");
    r.headers.emplace_back("Content-Length", "100");
    return r;
  });
  server.Handle("/ok", [](const HttpRequest&) { return Text("ok\n"); });
  uint16_t port = server.Start();
  for (const char* path : {"/throws", "/throws-int", "/injects", "/length"}) {
    Response r = Get(port, path);
    EXPECT_EQ(r.status, 500) << path << "\n" << r.raw;
    EXPECT_EQ(r.body.find("boom"), std::string::npos);  // details go to the log, not the client
    EXPECT_EQ(r.raw.find("Set-Cookie"), std::string::npos);
  }
  EXPECT_EQ(Get(port, "/ok").body, "ok\n");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(logged.size(), 4u);
  EXPECT_NE(logged[0].find("profile build failed: boom"), std::string::npos) << logged[0];
  EXPECT_NE(logged[2].find("X-Evil"), std::string::npos) << logged[2];
}

TEST(HttpServer, StopIsPromptWithClientsConnected) {
  HttpServer server(LocalOptions());
  server.Handle("/metrics", [](const HttpRequest&) { return Text("m\n"); });
  uint16_t port = server.Start();
  int idle = Connect(port);
  int half = Connect(port);
  SendAll(half, "GET /met");
  std::this_thread::sleep_for(milliseconds(50));
  auto start = Clock::now();
  server.Stop();
  EXPECT_LT(SecondsSince(start), 0.5);
  // The connections were closed without an answer, and nothing listens any more.
  EXPECT_EQ(ReadToEof(idle), "");
  EXPECT_EQ(ReadToEof(half), "");
  ::close(idle);
  ::close(half);
  EXPECT_EQ(Connect(port), -1);
  server.Stop();  // idempotent
  EXPECT_THROW(server.Handle("/late", [](const HttpRequest&) { return Text(""); }), Error);
}

// A hostile local user on 127.0.0.2: `slots` connections opened at once and
// kept open, two in three slow (a request head trickled a byte a second),
// the others malformed (garbage, then silence). Each one the server closes
// is opened again 100 to 300 ms later, until Stop.
class Attack {
 public:
  Attack(uint16_t port, int slots) : port_(port), slots_(static_cast<size_t>(slots)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Attack() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int opened() const { return opened_.load(); }

 private:
  struct Slot {
    int fd = -1;
    bool slow = false;
    bool connected = false;
    size_t sent = 0;         // of the slow head
    Clock::time_point next;  // reopen (fd < 0) or send the next slow byte
  };

  static std::string Garbage(size_t i) {
    switch (i % 5) {
      case 0: return std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n", 12);  // TLS on the plain port
      case 1: return "hello there\r\n\r\n";
      case 2: return "GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n";
      case 3: return "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(9000, 'x') + "\r\n\r\n";
      default: return "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\npartial";
    }
  }

  // A deterministic jitter, so that neither kind always comes back first.
  milliseconds Later() {
    jitter_ = jitter_ * 1103515245 + 12345;
    return milliseconds(100 + (jitter_ >> 8) % 200);
  }

  void Open(Slot& s) {
    const bool slow = s.slow;
    s = Slot();
    s.slow = slow;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000002);  // 127.0.0.2
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS)) {
      if (fd >= 0) ::close(fd);
      s.next = Clock::now() + Later();
      return;
    }
    s.fd = fd;
    s.next = Clock::now();
    opened_++;
  }

  void Run() {
    const std::string slow_head = "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Slow: " + std::string(4096, 'a');
    std::vector<Slot> slots(slots_);
    for (size_t i = 0; i < slots.size(); i++) {
      slots[i].slow = i % 3 != 0;
      Open(slots[i]);
    }
    std::vector<pollfd> fds;
    while (!stop_) {
      auto now = Clock::now();
      fds.clear();
      for (auto& s : slots) {
        if (s.fd < 0 && now >= s.next) Open(s);
        fds.push_back({s.fd, static_cast<short>(s.connected ? POLLIN : POLLIN | POLLOUT), 0});  // poll skips -1
      }
      ::poll(fds.data(), fds.size(), 50);
      now = Clock::now();
      for (size_t i = 0; i < slots.size(); i++) {
        Slot& s = slots[i];
        if (s.fd < 0) continue;
        if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) {
          char buf[4096];
          ssize_t n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {  // the server let go: come back
            ::close(s.fd);
            s.fd = -1;
            s.next = now + Later();
            continue;
          }
        }
        if (!s.connected && (fds[i].revents & POLLOUT)) {
          s.connected = true;
          if (!s.slow) {
            std::string g = Garbage(i / 3);
            (void)!::send(s.fd, g.data(), g.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          }
        }
        if (s.connected && s.slow && now >= s.next && s.sent < slow_head.size()) {
          if (::send(s.fd, slow_head.data() + s.sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) s.sent++;
          s.next = now + std::chrono::seconds(1);
        }
      }
    }
    for (auto& s : slots)
      if (s.fd >= 0) ::close(s.fd);
  }

  const uint16_t port_;
  const size_t slots_;
  uint32_t jitter_ = 1;
  std::atomic<bool> stop_{false};
  std::atomic<int> opened_{0};
  std::thread thread_;
};

// A scraper on 127.0.0.1 is served while another local user floods the
// agent's server from 127.0.0.2 with slow and malformed connections (with
// only a global connection cap, 15 of 20 scrapes got a 503); once the flood
// stops, every connection it held is released.
TEST(HttpServer, ScraperIsServedWhileAnotherClientFloodsTheServer) {
  HttpServerOptions o;  // the limits the agent runs with
  o.listen = "127.0.0.1:0";
  o.log = [](const std::string&) {};
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) { return Text("goscope_goroutines 1\n"); });
  uint16_t port = server.Start();

  Attack attack(port, 300);
  auto settle = Clock::now() + std::chrono::seconds(5);
  while (attack.opened() < 300 && Clock::now() < settle) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_GE(attack.opened(), 300);
  std::this_thread::sleep_for(milliseconds(1000));  // a few rounds of reconnections: the slow ones have settled in

  int ok = 0;
  double slowest = 0;
  std::map<int, int> statuses;
  for (int i = 0; i < 20; i++) {
    auto start = Clock::now();
    Response r = Get(port, "/metrics");
    double took = SecondsSince(start);
    statuses[r.status]++;
    if (r.status == 200 && r.body == "goscope_goroutines 1\n") {
      ok++;
      slowest = std::max(slowest, took);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::string seen;
  for (auto [status, n] : statuses) seen += " " + std::to_string(status) + " x" + std::to_string(n);
  EXPECT_GE(ok, 19) << "statuses:" << seen;
  EXPECT_LT(slowest, 0.5) << "statuses:" << seen;
  EXPECT_GT(attack.opened(), 600) << "the server should have kept refusing the attacker's connections";
  EXPECT_GT(server.open_connections(), 0u);  // the attacker's slow heads, up to its cap

  attack.Stop();
  // What the attacker held is released as soon as it lets go, and the next
  // client is served at once.
  EXPECT_EQ(OpenConnections(server, 0), 0u);
  auto start = Clock::now();
  EXPECT_EQ(Get(port, "/metrics").status, 200);
  EXPECT_LT(SecondsSince(start), 0.2);
}


std::string RunShell(const std::string& cmd, int* exit_code) { return testing::RunCommand(cmd, "", exit_code); }

// What the agent will do: a /metrics page behind a token, scraped by a real
// HTTP client, checked by Prometheus' own parser.
TEST(HttpServer, CurlScrapesAPagePromtoolAccepts) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("curl", "curl");
  HttpServerOptions o = LocalOptions();
  o.bearer_token = "scrape-token";
  HttpServer server(o);
  server.Handle("/metrics", [](const HttpRequest&) {
    PrometheusTextWriter w;
    w.Family("goscope_goroutines", MetricType::kGauge, "Live goroutines.");
    w.Sample({{"pid", "1"}, {"comm", "demo \"svc\""}}, 12);
    w.Family("goscope_gc_pause_seconds", MetricType::kHistogram, "GC pauses.");
    w.Histogram({{"pid", "1"}}, {{0.001, 0.01}, {1, 2, 3}, 0.5});
    HttpResponse r;
    r.content_type = std::string(kPrometheusContentType);
    r.body = w.text();
    return r;
  });
  uint16_t port = server.Start();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  int code = -1;
  std::string out = RunShell("curl --noproxy '*' -sS -o /dev/null -w '%{http_code}' " + url, &code);
  EXPECT_EQ(out, "401");
  const std::string curl = "curl --noproxy '*' -sS -H 'Authorization: Bearer scrape-token' ";
  out = RunShell(curl + "-w '\\n%{http_code} %{content_type}' " + url, &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("goscope_gc_pause_seconds_bucket{pid=\"1\",le=\"+Inf\"} 6\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n200 text/plain; version=0.0.4; charset=utf-8"), std::string::npos) << out;
  out = RunShell(curl + "-I " + url, &code);  // HEAD
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos) << out;

  if (!fs::exists("/usr/bin/promtool")) {
    const char* req = std::getenv("GOSCOPE_REQUIRE_BPF");
    if (req && std::string(req) == "1") FAIL() << "/usr/bin/promtool missing (apt-get install prometheus)";
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  }
  out = RunShell(curl + url + " | /usr/bin/promtool check metrics 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "");
}

// ---------------------------------------------------------------- token file

class HttpServerTokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("token");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { testing::RemoveTree(dir_.string()); }
  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string ErrorOf(const std::string& path) {
    try {
      LoadBearerToken(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(HttpServerTokenFile, LoadsAndTrims) {
  EXPECT_EQ(LoadBearerToken(Write("t", "  abc123-_.~+/==\n\n", 0600)), "abc123-_.~+/==");
  EXPECT_EQ(LoadBearerToken(Write("r", "tok", 0400)), "tok");
}

TEST_F(HttpServerTokenFile, RefusesWhatIsNotASecretToken) {
  std::string e = ErrorOf(Write("open", "tok\n", 0644));
  EXPECT_NE(e.find("group or others"), std::string::npos) << e;
  EXPECT_NE(e.find("chmod 600"), std::string::npos) << e;
  EXPECT_NE(e.find("0644"), std::string::npos) << e;
  EXPECT_NE(ErrorOf(Write("g", "tok\n", 0640)), "");
  EXPECT_NE(ErrorOf(Write("w", "tok\n", 0602)), "");
  EXPECT_NE(ErrorOf(Write("empty", " \n\t\n", 0600)).find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf(Write("space", "two words\n", 0600)), "");
  EXPECT_NE(ErrorOf(Write("big", std::string(5000, 'a'), 0600)).find("larger"), std::string::npos);
  EXPECT_NE(ErrorOf((dir_ / "missing").string()).find("No such file"), std::string::npos);
  fs::create_directories(dir_ / "d");
  ::chmod((dir_ / "d").c_str(), 0700);
  EXPECT_NE(ErrorOf((dir_ / "d").string()).find("not a regular file"), std::string::npos);
  EXPECT_FALSE(IsValidBearerToken("=="));
  EXPECT_FALSE(IsValidBearerToken("a=b"));
  EXPECT_TRUE(IsValidBearerToken("a=="));
}

}  // namespace
}  // namespace goscope
