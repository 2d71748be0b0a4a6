// The agent's HTTP pieces against real things: the request-head parser on
// bytes (every prefix of a request, every refusal and its status), then the
// server on 127.0.0.1:0 driven through real TCP sockets and curl: routing
// by exact path (no file is ever served), methods, bearer tokens, the rate
// limit, the connection cap, the slowloris deadline, size limits, handler
// failures, a client that will not read not blocking the others, a prompt
// Stop, and the token file's rules. A /metrics page served by the server is
// fetched with curl and checked by promtool.
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include "tool_required.h"

namespace goscope {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- parser

HttpParse Parse(std::string_view s, HttpRequestLimits lim = {}) { return ParseHttpRequest(s, lim); }

TEST(HttpRequest, ParsesHeadQueryAndHeaders) {
  const std::string req =
      "GET /debug/pprof/heap?seconds=30&name=a%20b+c&x=%2F%3F&seconds=99&flag&=skipped HTTP/1.1\r\n"
      "Host: node1:9464\r\n"
      "user-agent:  Prometheus/2.42 \t\r\n"
      "Accept: */*\r\n"
      "\r\n";
  HttpParse p = Parse(req + "trailing bytes are not the head's");
  ASSERT_EQ(p.state, HttpParse::State::kRequest) << p.reason;
  EXPECT_EQ(p.head_size, req.size());
  const HttpRequest& r = p.request;
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/debug/pprof/heap");
  EXPECT_EQ(r.version_minor, 1);
  std::map<std::string, std::string> want{{"seconds", "30"}, {"name", "a b c"}, {"x", "/?"}, {"flag", ""}};
  EXPECT_EQ(r.query, want);
  EXPECT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers.Get("USER-AGENT").value_or("?"), "Prometheus/2.42");  // OWS trimmed, any case
  EXPECT_EQ(r.headers.Get("host").value_or("?"), "node1:9464");
  EXPECT_FALSE(r.headers.Get("Authorization").has_value());
}

TEST(HttpRequest, EveryPrefixIsIncomplete) {
  const std::string req = "GET /metrics?a=1 HTTP/1.1\r\nHost: h\r\nAccept: text/plain\r\n\r\n";
  for (size_t n = 0; n < req.size(); n++)
    EXPECT_EQ(Parse(req.substr(0, n)).state, HttpParse::State::kIncomplete) << "prefix of " << n << " bytes";
  EXPECT_EQ(Parse(req).state, HttpParse::State::kRequest);
}

TEST(HttpRequest, AcceptsLenientButValidForms) {
  // Bare LF line ends, blank lines before the request line, HTTP/1.0 without Host.
  HttpParse p = Parse("\r\n\nGET /m HTTP/1.0\nX: y\n\n");
  ASSERT_EQ(p.state, HttpParse::State::kRequest) << p.reason;
  EXPECT_EQ(p.request.path, "/m");
  EXPECT_EQ(p.request.version_minor, 0);
  // absolute-form: the authority is dropped.
  p = Parse("GET http://node:9464/metrics?x=1 HTTP/1.1\r\nHost: node\r\n\r\n");
  ASSERT_EQ(p.state, HttpParse::State::kRequest) << p.reason;
  EXPECT_EQ(p.request.path, "/metrics");
  EXPECT_EQ(p.request.query.at("x"), "1");
  p = Parse("GET HTTP://node?x=2 HTTP/1.1\r\nHost: node\r\n\r\n");
  ASSERT_EQ(p.state, HttpParse::State::kRequest) << p.reason;
  EXPECT_EQ(p.request.path, "/");
  EXPECT_EQ(p.request.query.at("x"), "2");
  // The path is not decoded or normalized: it never names anything but a handler.
  p = Parse("GET /a/../%6detrics HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p.state, HttpParse::State::kRequest);
  EXPECT_EQ(p.request.path, "/a/../%6detrics");
  // Content-Length: 0 is no body.
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").state, HttpParse::State::kRequest);
}

TEST(HttpRequest, RefusesWithTheRightStatus) {
  struct Case {
    std::string input;
    int status;
  };
  const std::string host = "Host: h\r\n";
  const std::vector<Case> cases = {
      {"GET\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},                               // HTTP/0.9
      {"GET  / HTTP/1.1\r\n\r\n", 400},                     // two spaces
      {"G(T / HTTP/1.1\r\n\r\n", 400},                      // not a token
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
      {"GET / HTTP/1.1\r\n" + host + ": x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "X: a\rb\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "X: a\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", 413},
      {"GET / HTTP/1.1\r\n" + host + "content-length: 99999999999999999999999\r\n\r\n", 413},
  };
  for (const auto& c : cases) {
    std::string input(c.input.data(), c.input.size());
    HttpParse p = Parse(input);
    EXPECT_EQ(p.state, HttpParse::State::kError) << input;
    EXPECT_EQ(p.status, c.status) << input << " -> " << p.reason;
    EXPECT_FALSE(p.reason.empty());
  }
  // An embedded NUL, which a std::string literal above would cut off.
  std::string nul = "GET / HTTP/1.1\r\nHost: h\r\nX: a";
  nul += '\0';
  nul += "b\r\n\r\n";
  EXPECT_EQ(Parse(nul).status, 400);
}

TEST(HttpRequest, RefusesBadRequestLineBeforeTheHeadEnds) {
  // The server need not wait for more bytes to refuse these.
  EXPECT_EQ(Parse("GET / HTTP/3.0\r\nHost: h\r\n").status, 505);
  EXPECT_EQ(Parse(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", 12)).status, 400);  // TLS
}

TEST(HttpRequest, EnforcesSizeLimits) {
  HttpRequestLimits lim;
  lim.max_head_bytes = 200;
  lim.max_headers = 4;
  std::string line = "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n";
  EXPECT_EQ(Parse(line.substr(0, 201), lim).status, 414);  // no line end yet, already too long
  EXPECT_EQ(Parse(line, lim).status, 414);
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(180, 'v') + "\r\n\r\n";
  EXPECT_EQ(Parse(head, lim).status, 431);
  EXPECT_EQ(Parse(head.substr(0, 201), lim).status, 431);  // incomplete, but past the limit
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 3; i++) many += "X" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Parse(many + "\r\n", lim).state, HttpParse::State::kRequest);  // 4 fields
  EXPECT_EQ(Parse(many + "X9: v\r\n\r\n", lim).status, 431);               // 5 fields
  // The defaults: 8 KiB and 64 fields.
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(8 * 1024, 'v') + "\r\n\r\n";
  EXPECT_EQ(Parse(big).status, 431);
  std::string fields = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 64; i++) fields += "X" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Parse(fields + "\r\n").status, 431);
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
  // A TLS client hello on the plain port gets a plain 400 rather than a hang.
  Response r = Exchange(port, std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n", 12));
  EXPECT_EQ(r.status, 400) << r.raw;
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


std::string RunShell(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

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
    dir_ = fs::temp_directory_path() / ("goscope-token-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
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
