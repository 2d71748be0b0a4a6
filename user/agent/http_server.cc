#include "agent/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

using Clock = std::chrono::steady_clock;

// After the response, the server shuts down its side and reads what the
// client still sends for this long before closing: closing a socket with
// unread input makes the kernel send a reset, which can destroy the response
// before the client reads it.
constexpr auto kLinger = std::chrono::milliseconds(500);
constexpr size_t kMaxLingerBytes = 64 * 1024;
constexpr size_t kMaxRateBuckets = 4096;
// Out of file descriptors, the listening socket stays readable: rather than
// spin on it, stop accepting for a moment.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool loopback = false;
};

ListenAddress ParseListenAddress(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error(fmt::format("listen address \"{}\": {} (examples: 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464)", text,
                             why));
  };
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw bad("expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) throw bad("no port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) throw bad("an IPv6 address goes in brackets");
  }
  if (host.empty()) throw bad("no host; name the interface, 0.0.0.0 or [::] for all");
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) > 65535)
    throw bad("port must be a number from 0 to 65535");
  uint16_t port_n = htons(static_cast<uint16_t>(std::stoi(port)));
  if (host == "localhost") host = "127.0.0.1";

  ListenAddress out;
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    auto* sa = reinterpret_cast<sockaddr_in*>(&out.addr);
    sa->sin_family = AF_INET;
    sa->sin_port = port_n;
    sa->sin_addr = v4;
    out.len = sizeof(sockaddr_in);
    out.loopback = (ntohl(v4.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.addr);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = port_n;
    sa->sin6_addr = v6;
    out.len = sizeof(sockaddr_in6);
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  } else {
    throw bad("\"" + host + "\" is not a numeric IP address (names are not resolved)");
  }
  return out;
}

// The rate limiter's notion of one client: an IPv4 address, or an IPv6 /64
// (one host usually owns a whole /64, and could otherwise rotate through it).
std::string ClientKey(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
    return buf;
  }
  in6_addr a = reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof buf);
    return buf;
  }
  std::fill(a.s6_addr + 8, a.s6_addr + 16, 0);
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return std::string(buf) + "/64";
}

// Token buckets, one per client: `burst` requests at once, then `rate` per second.
class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

  // 0 when the client may go now (and its token is taken); otherwise the
  // seconds until it may.
  double Take(const std::string& client, Clock::time_point now) {
    if (rate_ <= 0) return 0;
    if (buckets_.size() >= kMaxRateBuckets && !buckets_.count(client)) Prune(now);
    auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
    Bucket& b = it->second;
    b.tokens = Refilled(b, now);
    b.last = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / rate_;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  double Refilled(const Bucket& b, Clock::time_point now) const {
    return std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.last).count() * rate_);
  }
  // A full bucket is the same as no bucket. Should a flood of addresses leave
  // none full, forget them all: limiting fails open rather than growing forever.
  void Prune(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = Refilled(it->second, now) >= burst_ ? buckets_.erase(it) : std::next(it);
    if (buckets_.size() >= kMaxRateBuckets) buckets_.clear();
  }

  double rate_, burst_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// Takes time proportional to the length of what the client sent, whatever the
// token and wherever the two differ.
bool ConstantTimeEquals(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() != secret.size();
  for (size_t i = 0; i < given.size(); i++)
    diff |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  return diff == 0;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

const char* StatusText(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

bool IsFieldName(std::string_view s) {
  static const std::string_view extra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

std::string HttpDate() {
  char buf[64];
  time_t t = time(nullptr);
  tm g{};
  gmtime_r(&t, &g);
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
  return buf;
}

HttpResponse ErrorResponse(int status, const std::string& reason) {
  HttpResponse r;
  r.status = status;
  r.body = fmt::format("{} {}: {}\n", status, StatusText(status), reason);
  return r;
}

// The bytes on the wire; the body is left out for HEAD but still counted.
std::string Serialize(const HttpResponse& r, bool head_only) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                                "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                                r.status, StatusText(r.status), HttpDate(), r.content_type, r.body.size());
  for (const auto& [name, value] : r.headers) out += fmt::format("{}: {}\r\n", name, value);
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

// "" when a handler's response can go on the wire as it is.
std::string CheckResponse(const HttpResponse& r) {
  if (r.status < 200 || r.status > 599) return fmt::format("status {} out of range", r.status);
  if (!IsFieldValue(r.content_type)) return "invalid Content-Type";
  for (const auto& [name, value] : r.headers) {
    if (!IsFieldName(name) || !IsFieldValue(value)) return fmt::format("invalid header field \"{}\"", name);
    for (const char* owned : {"Content-Length", "Connection", "Date", "Transfer-Encoding"})
      if (EqualsIgnoreCase(name, owned)) return fmt::format("header {} is set by the server", name);
  }
  return "";
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

bool IsValidBearerToken(std::string_view token) {
  size_t end = token.find_last_not_of('=');
  if (end == std::string_view::npos) return false;  // empty, or only '='
  return std::all_of(token.begin(), token.begin() + end + 1, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
           c == '/';
  });
}

std::string LoadBearerToken(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("token file {}: {}", path, std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(fmt::format("token file {}: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("token file {}: not a regular file", path));
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    throw Error(fmt::format("token file {}: group or others may access it (mode {:04o}); run chmod 600 {} "
                            "(in Kubernetes, mount the Secret with defaultMode: 0400)",
                            path, st.st_mode & 07777, path));
  constexpr size_t kMax = 4096;
  std::string data(kMax + 1, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("token file {}: {}", path, std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMax) throw Error(fmt::format("token file {}: larger than {} bytes; is it the right file?", path, kMax));
  data.resize(got);
  const char* ws = " \t\r\n\v\f";
  size_t b = data.find_first_not_of(ws), e = data.find_last_not_of(ws);
  std::string token = b == std::string::npos ? "" : data.substr(b, e - b + 1);
  if (token.empty()) throw Error(fmt::format("token file {}: empty", path));
  if (!IsValidBearerToken(token))
    throw Error(fmt::format("token file {}: the token may hold only letters, digits, -._~+/ and trailing '='",
                            path));
  return token;
}

struct HttpServer::Impl {
  struct Connection {
    int fd = -1;
    std::string client;  // ClientKey
    enum class Phase { kReading, kWriting, kLingering } phase = Phase::kReading;
    Clock::time_point deadline;
    std::string in;  // the head so far
    std::string out;
    size_t sent = 0;
    size_t lingered = 0;
  };

  HttpServerOptions options;
  ListenAddress address;
  std::map<std::string, HttpHandler> handlers;
  RateLimiter limiter;
  int listen_fd = -1;
  int wake_fd = -1;
  std::atomic<uint16_t> port{0};
  std::atomic<bool> stopping{false};
  bool started = false;
  std::thread thread;
  std::vector<std::unique_ptr<Connection>> conns;
  Clock::time_point accept_paused_until;

  explicit Impl(HttpServerOptions o)
      : options(std::move(o)),
        address(ParseListenAddress(options.listen)),
        limiter(options.limits.rate_per_second, options.limits.rate_burst) {}

  void Log(const std::string& line) {
    if (options.log) {
      options.log(line);
    } else {
      std::fprintf(stderr, "goscope: http %s: %s\n", options.listen.c_str(), line.c_str());
    }
  }

  void Run();
  void Accept(Clock::time_point now);
  void OnReadable(Connection& c);
  void OnWritable(Connection& c);
  void Respond(Connection& c, const HttpResponse& r, bool head_only);
  HttpResponse Route(Connection& c, const HttpRequest& req);
  int PollTimeoutMs(Clock::time_point now) const;
};

HttpServer::HttpServer(HttpServerOptions options) {
  if (!options.bearer_token.empty() && !IsValidBearerToken(options.bearer_token))
    throw Error("http: the bearer token may hold only letters, digits, -._~+/ and trailing '='");
  impl_ = std::make_unique<Impl>(std::move(options));
  if (!impl_->address.loopback && impl_->options.bearer_token.empty())
    throw Error(fmt::format("http: refusing to listen on {} without a bearer token: anyone who can reach it could "
                            "read the profiles; set a token, or listen on 127.0.0.1",
                            impl_->options.listen));
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, HttpHandler handler) {
  if (impl_->started) throw Error("http: Handle(" + path + ") after Start");
  if (path.empty() || path[0] != '/') throw Error("http: handler path \"" + path + "\" must start with '/'");
  impl_->handlers[path] = std::move(handler);
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

uint16_t HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started) throw Error("http: Start called twice");
  const std::string where = "http: cannot listen on " + s.options.listen;
  int fd = ::socket(s.address.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(fmt::format("{}: socket: {}", where, std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&s.address.addr), s.address.len) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("{}: {}", where, std::strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  s.port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  s.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.wake_fd < 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("{}: eventfd: {}", where, std::strerror(err)));
  }
  s.listen_fd = fd;
  s.started = true;
  s.thread = std::thread([&s] { s.Run(); });
  return s.port;
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  s.stopping = true;
  uint64_t one = 1;
  (void)!::write(s.wake_fd, &one, sizeof one);
  s.thread.join();
  for (auto& c : s.conns) CloseFd(c->fd);
  s.conns.clear();
  CloseFd(s.listen_fd);
  CloseFd(s.wake_fd);
}

int HttpServer::Impl::PollTimeoutMs(Clock::time_point now) const {
  auto first = Clock::time_point::max();
  for (const auto& c : conns) first = std::min(first, c->deadline);
  if (accept_paused_until > now) first = std::min(first, accept_paused_until);
  if (first == Clock::time_point::max()) return -1;
  if (first <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(first - now).count());
}

void HttpServer::Impl::Run() {
  std::vector<pollfd> fds;
  while (!stopping) {
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({accept_paused_until > Clock::now() ? -1 : listen_fd, POLLIN, 0});  // poll skips fd -1
    for (const auto& c : conns)
      fds.push_back({c->fd, static_cast<short>(c->phase == Connection::Phase::kWriting ? POLLOUT : POLLIN), 0});
    int n = ::poll(fds.data(), fds.size(), PollTimeoutMs(Clock::now()));
    if (n < 0 && errno != EINTR) {
      Log(fmt::format("poll: {}; no longer serving", std::strerror(errno)));
      return;
    }
    if (n < 0) continue;  // EINTR
    if (stopping) return;
    // conns may grow below (Accept), but only after these fds are handled.
    const size_t polled = fds.size() - 2;
    for (size_t i = 0; i < polled; i++) {
      Connection& c = *conns[i];
      short ev = fds[i + 2].revents;
      if (ev == 0) continue;
      if (c.phase == Connection::Phase::kWriting) {
        OnWritable(c);
      } else {
        OnReadable(c);
      }
    }
    if (fds[1].revents & POLLIN) Accept(Clock::now());
    auto now = Clock::now();
    for (auto& c : conns) {
      if (c->fd < 0 || c->deadline > now) continue;
      if (c->phase == Connection::Phase::kReading) {
        Respond(*c, ErrorResponse(408, "the request head did not arrive in time"), false);
      } else {
        CloseFd(c->fd);  // a client not reading its response, or a finished linger
      }
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(), [](const auto& c) { return c->fd < 0; }), conns.end());
  }
}

void HttpServer::Impl::Accept(Clock::time_point now) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        Log(fmt::format("accept: {}; pausing new connections", std::strerror(errno)));
        accept_paused_until = now + kAcceptPause;
      }
      return;  // EAGAIN: all taken
    }
    if (conns.size() >= static_cast<size_t>(options.limits.max_connections)) {
      // Best effort: the answer fits any socket buffer; no connection state is kept for it.
      HttpResponse r = ErrorResponse(503, "too many connections");
      r.headers.emplace_back("Retry-After", "1");
      std::string bytes = Serialize(r, false);
      (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->client = ClientKey(peer);
    c->deadline = now + options.limits.read_timeout;
    conns.push_back(std::move(c));
  }
}

void HttpServer::Impl::OnReadable(Connection& c) {
  char buf[4096];
  if (c.phase == Connection::Phase::kLingering) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 || (c.lingered += static_cast<size_t>(n)) > kMaxLingerBytes) CloseFd(c.fd);
    return;
  }
  // Never hold more than one byte past the limit: that byte is what tells the
  // parser the head is too large.
  size_t room = options.limits.request.max_head_bytes + 1 - c.in.size();
  ssize_t n = ::recv(c.fd, buf, std::min(room, sizeof buf), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {  // the client left (or broke) before a whole head: no one to answer
    CloseFd(c.fd);
    return;
  }
  c.in.append(buf, static_cast<size_t>(n));
  // The parser's answer changes only when a line ends or the limit is passed:
  // a client sending one byte at a time must not make it rescan the head each time.
  const size_t limit = options.limits.request.max_head_bytes;
  if (std::memchr(buf, '\n', static_cast<size_t>(n)) == nullptr && c.in.size() <= limit) return;
  HttpParse p = ParseHttpRequest(c.in, options.limits.request);
  switch (p.state) {
    case HttpParse::State::kIncomplete:
      return;
    case HttpParse::State::kError:
      Respond(c, ErrorResponse(p.status, p.reason), false);
      return;
    case HttpParse::State::kRequest:
      Respond(c, Route(c, p.request), p.request.method == "HEAD");
      return;
  }
}

HttpResponse HttpServer::Impl::Route(Connection& c, const HttpRequest& req) {
  // Before authentication, so guessing tokens is limited too.
  if (double wait = limiter.Take(c.client, Clock::now()); wait > 0) {
    HttpResponse r = ErrorResponse(429, "rate limit exceeded");
    r.headers.emplace_back("Retry-After", std::to_string(std::max(1, static_cast<int>(std::ceil(wait)))));
    return r;
  }
  if (!options.bearer_token.empty()) {
    auto auth = req.headers.Get("Authorization");
    std::string_view given;
    if (auth && req.headers.Count("Authorization") == 1 && auth->size() > 7 &&
        EqualsIgnoreCase(auth->substr(0, 7), "Bearer ")) {
      given = auth->substr(7);
      while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
    }
    if (given.empty() || !ConstantTimeEquals(given, options.bearer_token)) {
      HttpResponse r = ErrorResponse(401, auth ? "invalid bearer token" : "a bearer token is required");
      r.headers.emplace_back("WWW-Authenticate",
                             auth ? R"(Bearer realm="goscope", error="invalid_token")" : R"(Bearer realm="goscope")");
      return r;
    }
  }
  if (req.method != "GET" && req.method != "HEAD") {
    HttpResponse r = ErrorResponse(405, "only GET and HEAD are served");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  auto it = handlers.find(req.path);
  if (it == handlers.end()) return ErrorResponse(404, "no such path");
  try {
    HttpResponse r = it->second(req);
    if (std::string why = CheckResponse(r); !why.empty()) {
      Log(fmt::format("handler for {} returned an invalid response: {}", req.path, why));
      return ErrorResponse(500, "internal error");
    }
    return r;
  } catch (const std::exception& e) {
    Log(fmt::format("handler for {} failed: {}", req.path, e.what()));
  } catch (...) {
    Log(fmt::format("handler for {} failed with a non-standard exception", req.path));
  }
  return ErrorResponse(500, "internal error");
}

void HttpServer::Impl::Respond(Connection& c, const HttpResponse& r, bool head_only) {
  c.in.clear();
  c.in.shrink_to_fit();
  c.out = Serialize(r, head_only);
  c.sent = 0;
  c.phase = Connection::Phase::kWriting;
  c.deadline = Clock::now() + options.limits.write_timeout;
  OnWritable(c);
}

void HttpServer::Impl::OnWritable(Connection& c) {
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {  // the client is gone
      CloseFd(c.fd);
      return;
    }
    c.sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Connection::Phase::kLingering;
  c.deadline = Clock::now() + kLinger;
}

}  // namespace goscope
