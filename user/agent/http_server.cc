#include "agent/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
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
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "error.h"

namespace goscope {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxRateBuckets = 4096;
// A connection's libmicrohttpd memory pool holds the head, its record of the
// header fields and the response head: the head limit plus this much. A head
// that fills the pool is refused by libmicrohttpd itself (414, 431).
constexpr size_t kPoolSlack = 8 * 1024;
// Connections libmicrohttpd may hold beyond max_connections: one refused
// (503) lives until libmicrohttpd's next turn, and meanwhile must not keep
// an admissible client waiting.
constexpr unsigned kRefusalSlots = 16;
constexpr int kLibraryLinesPerMinute = 10;

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

// The rate limiter's and the connection caps' notion of one client: an IPv4
// address, or an IPv6 /64 (one host usually owns a whole /64, and could
// otherwise rotate through it).
std::string ClientKey(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
    return buf;
  }
  in6_addr a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
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
  const char* text = MHD_get_reason_phrase_for(static_cast<unsigned>(status));
  return text && *text ? text : "Status";
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

// The bytes of an answer the server writes itself: the two due before
// libmicrohttpd has a whole head to answer (503 on arrival, 408).
std::string Serialize(const HttpResponse& r) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                                "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                                r.status, StatusText(r.status), HttpDate(), r.content_type, r.body.size());
  for (const auto& [name, value] : r.headers) out += fmt::format("{}: {}\r\n", name, value);
  return out + "\r\n" + r.body;
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
  // One connection, from libmicrohttpd's STARTED notice to its CLOSED one.
  struct Connection {
    int fd = -1;
    std::string client;     // ClientKey
    bool admitted = false;  // counted against the caps, not refused on arrival
    // kHead until the head is whole (read_timeout), kResponse while
    // libmicrohttpd writes the answer (write_timeout), kDone once answered or
    // dropped from here: the socket is shut down, libmicrohttpd closes it.
    enum class Phase { kHead, kResponse, kDone } phase = Phase::kHead;
    Clock::time_point deadline = Clock::time_point::max();
    std::string target;  // the request target as sent
  };

  HttpServerOptions options;
  ListenAddress address;
  std::map<std::string, HttpHandler> handlers;
  RateLimiter limiter;
  MHD_Daemon* daemon = nullptr;
  int wake_fd = -1;
  std::atomic<uint16_t> port{0};
  std::atomic<size_t> open{0};
  std::atomic<bool> stopping{false};
  bool started = false;
  std::thread thread;
  // What follows belongs to the serving thread (and to Stop once it is joined):
  // libmicrohttpd calls back only from MHD_run and MHD_stop_daemon.
  std::map<MHD_Connection*, Connection> conns;  // nodes stay put: libmicrohttpd keeps a pointer
  size_t admitted = 0;
  std::unordered_map<std::string, int> admitted_from;  // by client
  Clock::time_point log_window_end;
  int log_lines = 0, log_dropped = 0;
  std::string last_library_message;

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
  void NoticeHangUp(Connection& conn);
  int PollTimeoutMs();
  void EnforceDeadlines();
  void Arrived(MHD_Connection* c, void** context);
  void Left(MHD_Connection* c);
  void Refuse(Connection& conn, int status, const std::string& reason);
  std::optional<HttpRefusal> TooLarge(MHD_Connection* c, const Connection& conn, std::string_view method);
  HttpResponse Answer(const Connection& conn, HttpRequest* req);
  HttpResponse Route(const std::string& client, const HttpRequest& req);
  MHD_Result Queue(MHD_Connection* c, HttpResponse r, const std::string& path);
  void LibraryMessage(std::string line);

  static Connection* ConnectionOf(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? static_cast<Connection*>(info->socket_context) : nullptr;
  }

  // libmicrohttpd's callbacks: C frames, so nothing may throw through them.
  static void OnConnection(void* cls, MHD_Connection* c, void** context, MHD_ConnectionNotificationCode code) {
    Impl& s = *static_cast<Impl*>(cls);
    try {
      if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        s.Arrived(c, context);
      } else {
        s.Left(c);
      }
    } catch (const std::exception& e) {
      s.Log(fmt::format("connection bookkeeping: {}", e.what()));
    }
  }

  // Called with the target as sent, before libmicrohttpd decodes it.
  static void* OnTarget(void* /*cls*/, const char* uri, MHD_Connection* c) {
    try {
      if (Connection* conn = ConnectionOf(c)) conn->target = uri ? uri : "";
    } catch (const std::exception&) {  // out of memory: the empty target gets a 400
    }
    return nullptr;
  }

  static MHD_Result AddHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
    std::string v = value ? value : "";
    // libmicrohttpd drops the whitespace before a value; this is the one after.
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    static_cast<HttpHeaders*>(cls)->Add(key, std::move(v));
    return MHD_YES;
  }

  // The whole head has arrived: answer it, once.
  static MHD_Result OnRequest(void* cls, MHD_Connection* c, const char* /*url*/, const char* method,
                              const char* version, const char* /*upload_data*/, size_t* /*upload_size*/,
                              void** /*request_context*/) {
    Impl& s = *static_cast<Impl*>(cls);
    Connection* conn = ConnectionOf(c);
    if (!conn) return MHD_NO;
    // Answered from here already (503, 408, too large): the socket is shut
    // down, and libmicrohttpd closes it on seeing that. (MHD_NO would have it
    // log an "internal error".)
    if (conn->phase != Connection::Phase::kHead) return MHD_YES;
    conn->phase = Connection::Phase::kResponse;
    conn->deadline = Clock::now() + s.options.limits.write_timeout;
    try {
      // A head near the size of the memory pool leaves libmicrohttpd no room
      // to build a response in: that refusal goes out from here.
      if (auto big = s.TooLarge(c, *conn, method)) {
        s.Refuse(*conn, big->status, big->reason);
        return MHD_YES;
      }
      HttpRequest req;
      req.method = method;
      // libmicrohttpd passes only HTTP/1.x on, spelled "HTTP/1.x".
      req.version_minor = std::strlen(version) == 8 ? version[7] - '0' : 1;
      MHD_get_connection_values(c, MHD_HEADER_KIND, &AddHeader, &req.headers);
      HttpResponse r = s.Answer(*conn, &req);
      return s.Queue(c, std::move(r), req.path);
    } catch (const std::exception& e) {
      s.Log(fmt::format("request: {}", e.what()));
      return MHD_NO;
    }
  }

  static void OnLog(void* cls, const char* format, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, format, ap);
    try {
      static_cast<Impl*>(cls)->LibraryMessage(buf);
    } catch (const std::exception&) {  // a line lost beats an exception through C
    }
  }
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

size_t HttpServer::open_connections() const { return impl_->open.load(); }

uint16_t HttpServer::Start() {
  Impl& s = *impl_;
  if (s.started) throw Error("http: Start called twice");
  const std::string where = "http: cannot listen on " + s.options.listen;
  // The socket is made here rather than by libmicrohttpd: bound to exactly
  // the configured address, with SO_REUSEADDR but never SO_REUSEPORT (which
  // would let a second listener share the port), and with errors of our own.
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
  const HttpServerLimits& lim = s.options.limits;
  // libmicrohttpd's own idle timeout only backs up the server's deadlines
  // (EnforceDeadlines): it restarts with every byte, so it never ends a
  // trickling client.
  const auto lifetime = std::chrono::ceil<std::chrono::seconds>(lim.read_timeout + lim.write_timeout);
  // Not MHD_USE_INTERNAL_POLLING_THREAD: Run is the event loop, see the header.
  s.daemon = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &Impl::OnRequest, &s,
      MHD_OPTION_EXTERNAL_LOGGER, &Impl::OnLog, &s,  // first, or earlier options log to stderr
      MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(std::max(lim.max_connections, 1)) + kRefusalSlots,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, lim.request.max_head_bytes + kPoolSlack,
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(lifetime.count()) + 1,
      MHD_OPTION_NOTIFY_CONNECTION, &Impl::OnConnection, &s,
      MHD_OPTION_URI_LOG_CALLBACK, &Impl::OnTarget, &s,
      MHD_OPTION_END);
  if (!s.daemon) {
    // fd is not closed here: libmicrohttpd closes it on most failures, and
    // a descriptor closed twice may by then belong to another thread.
    CloseFd(s.wake_fd);
    throw Error(fmt::format("{}: libmicrohttpd did not start{}", where,
                            s.last_library_message.empty() ? "" : ": " + s.last_library_message));
  }
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
  // Closes every connection, unanswered, and the listening socket.
  MHD_stop_daemon(s.daemon);
  s.daemon = nullptr;
  CloseFd(s.wake_fd);
}

void HttpServer::Impl::Run() {
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
  const int epoll_fd = info ? info->epoll_fd : -1;
  std::vector<pollfd> fds;
  std::vector<Connection*> heads;  // fds[2 + i] is heads[i]'s
  while (!stopping) {
    fds.assign({{wake_fd, POLLIN, 0}, {epoll_fd, POLLIN, 0}});
    heads.clear();
    for (auto& [c, conn] : conns) {
      if (conn.phase != Connection::Phase::kHead || MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS))
        continue;
      fds.push_back({conn.fd, POLLRDHUP, 0});
      heads.push_back(&conn);
    }
    if (::poll(fds.data(), fds.size(), PollTimeoutMs()) < 0 && errno != EINTR) {
      Log(fmt::format("poll: {}; no longer serving", std::strerror(errno)));
      return;
    }
    if (stopping) return;
    for (size_t i = 0; i < heads.size(); i++)
      if (fds[2 + i].revents != 0) NoticeHangUp(*heads[i]);
    MHD_run(daemon);
    EnforceDeadlines();
  }
}

// libmicrohttpd 0.9.75 takes a short read to mean that nothing more is
// coming, so under epoll's edge trigger it misses an end of input that came
// with the last bytes: a client that sent part of a head and left would hold
// its slot until the deadline. Input over and nothing of it unread means no
// head will ever come whole (libmicrohttpd answers a whole one as soon as it
// reads it): close, unanswered, as libmicrohttpd would.
void HttpServer::Impl::NoticeHangUp(Connection& conn) {
  char byte;
  ssize_t n = ::recv(conn.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;  // libmicrohttpd reads it next
  ::shutdown(conn.fd, SHUT_RDWR);
  conn.phase = Connection::Phase::kDone;
  conn.deadline = Clock::time_point::max();
}

int HttpServer::Impl::PollTimeoutMs() {
  long long ms = -1;
  MHD_UNSIGNED_LONG_LONG library_ms = 0;
  if (MHD_get_timeout(daemon, &library_ms) == MHD_YES)
    ms = static_cast<long long>(std::min<MHD_UNSIGNED_LONG_LONG>(library_ms, INT_MAX));
  auto first = Clock::time_point::max();
  for (const auto& [c, conn] : conns) first = std::min(first, conn.deadline);
  if (first != Clock::time_point::max()) {
    auto now = Clock::now();
    long long until = first <= now ? 0 : std::chrono::ceil<std::chrono::milliseconds>(first - now).count();
    ms = ms < 0 ? until : std::min(ms, until);
  }
  return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

void HttpServer::Impl::EnforceDeadlines() {
  const auto now = Clock::now();
  for (auto& [c, conn] : conns) {
    if (conn.deadline > now) continue;
    // A head that never came whole gets its 408, unless libmicrohttpd has
    // an answer on its way already (a malformed head); a client that does
    // not read its response is just dropped.
    if (conn.phase == Connection::Phase::kHead && !MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS)) {
      Refuse(conn, 408, "the request head did not arrive in time");
    } else {
      ::shutdown(conn.fd, SHUT_RDWR);
      conn.phase = Connection::Phase::kDone;
      conn.deadline = Clock::time_point::max();
    }
  }
}

void HttpServer::Impl::Arrived(MHD_Connection* c, void** context) {
  Connection& conn = conns[c];
  *context = &conn;
  open++;
  const MHD_ConnectionInfo* fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  const MHD_ConnectionInfo* peer = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  conn.fd = fd ? fd->connect_fd : -1;
  conn.client = peer && peer->client_addr ? ClientKey(peer->client_addr) : "";
  conn.deadline = Clock::now() + options.limits.read_timeout;
  if (admitted >= static_cast<size_t>(std::max(options.limits.max_connections, 1))) {
    Refuse(conn, 503, "too many connections");
    return;
  }
  auto from = admitted_from.find(conn.client);
  if (from != admitted_from.end() && from->second >= std::max(options.limits.max_connections_per_client, 1)) {
    Refuse(conn, 503, "too many connections from this client");
    return;
  }
  conn.admitted = true;
  admitted++;
  admitted_from[conn.client]++;
}

void HttpServer::Impl::Left(MHD_Connection* c) {
  auto it = conns.find(c);
  if (it == conns.end()) return;
  if (it->second.admitted) {
    admitted--;
    auto from = admitted_from.find(it->second.client);
    if (from != admitted_from.end() && --from->second <= 0) admitted_from.erase(from);
  }
  conns.erase(it);
  open--;
}

// Answers before libmicrohttpd could, straight on the socket, best effort:
// the answer fits any socket buffer. The shutdown then shows libmicrohttpd
// the end of the connection, which it closes on its next turn, on this thread.
void HttpServer::Impl::Refuse(Connection& conn, int status, const std::string& reason) {
  HttpResponse r = ErrorResponse(status, reason);
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  std::string bytes = Serialize(r);
  if (conn.fd >= 0) {
    (void)!::send(conn.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(conn.fd, SHUT_RDWR);
  }
  conn.phase = Connection::Phase::kDone;
  conn.deadline = Clock::time_point::max();
}

std::optional<HttpRefusal> HttpServer::Impl::TooLarge(MHD_Connection* c, const Connection& conn,
                                                      std::string_view method) {
  const size_t limit = options.limits.request.max_head_bytes;
  const MHD_ConnectionInfo* head = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  if (!head || head->header_size <= limit) return std::nullopt;
  // The request line alone: method, target, " HTTP/1.x" and CRLF.
  if (method.size() + 1 + conn.target.size() + 11 > limit) return HttpRefusal{414, "request line too long"};
  return HttpRefusal{431, "request header fields too large"};
}

HttpResponse HttpServer::Impl::Answer(const Connection& conn, HttpRequest* req) {
  if (req->headers.size() > options.limits.request.max_headers)
    return ErrorResponse(431, "too many request header fields");
  if (auto no = ParseRequestTarget(conn.target, req)) return ErrorResponse(no->status, no->reason);
  if (auto no = CheckRequestHead(*req)) return ErrorResponse(no->status, no->reason);
  return Route(conn.client, *req);
}

HttpResponse HttpServer::Impl::Route(const std::string& client, const HttpRequest& req) {
  // Before authentication, so guessing tokens is limited too.
  if (double wait = limiter.Take(client, Clock::now()); wait > 0) {
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

MHD_Result HttpServer::Impl::Queue(MHD_Connection* c, HttpResponse r, const std::string& path) {
  // The body moves into the response as it is: a profile is not copied.
  auto* body = new std::string(std::move(r.body));
  MHD_Response* response = MHD_create_response_from_buffer_with_free_callback_cls(
      body->size(), body->data(), [](void* b) { delete static_cast<std::string*>(b); }, body);
  if (!response) {
    delete body;
    return MHD_NO;
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Content-Type", r.content_type}, {"Connection", "close"},
      {"Cache-Control", "no-store"},    {"X-Content-Type-Options", "nosniff"}};
  fields.insert(fields.end(), r.headers.begin(), r.headers.end());
  for (const auto& [name, value] : fields) {
    if (MHD_add_response_header(response, name.c_str(), value.c_str()) == MHD_YES) continue;
    // CheckResponse let it through, so this is not the handler's doing: close.
    MHD_destroy_response(response);
    Log(fmt::format("response for {}: libmicrohttpd refused header field \"{}\"", path, name));
    return MHD_NO;
  }
  MHD_Result queued = MHD_queue_response(c, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return queued;
}

void HttpServer::Impl::LibraryMessage(std::string line) {
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  last_library_message = line;
  const auto now = Clock::now();
  if (now >= log_window_end) {
    if (log_dropped > 0) Log(fmt::format("libmicrohttpd: {} more messages in the last minute not logged", log_dropped));
    log_window_end = now + std::chrono::minutes(1);
    log_lines = log_dropped = 0;
  }
  if (log_lines++ < kLibraryLinesPerMinute) {
    Log("libmicrohttpd: " + line);
  } else {
    log_dropped++;
  }
}

}  // namespace goscope
