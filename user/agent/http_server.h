// The agent's HTTP endpoint: libmicrohttpd serving a few GET endpoints
// (/metrics, profiles) on a node where anything may connect, with the
// defences libmicrohttpd does not have built on top of it.
//
// What it does, on purpose, and nothing more:
//  - handlers by exact path; there is no static file serving, so no path ever
//    reaches the file system ("/../../etc/passwd" is simply an unknown path: 404)
//  - GET and HEAD only (405 with Allow), one request per connection
//    (Connection: close), no request bodies (413)
//  - a bearer token (constant-time compare, 401 with WWW-Authenticate), which
//    is mandatory when listening on anything but loopback
//  - a token bucket per client (429 with Retry-After); caps on open
//    connections, from one client and from all (503), so one client cannot
//    starve the others; a deadline for the whole request head counted from
//    accept, so a client trickling bytes cannot hold a slot (408); a bounded
//    head (414, 431)
//  - a handler that throws gives a 500; the server goes on
//
// libmicrohttpd reads, parses and writes; one thread of ours runs its event
// loop (epoll, non-blocking sockets): every connection's reads and writes
// proceed independently, so a stalled client blocks no one. The loop is ours
// rather than libmicrohttpd's so that the deadlines and the caps act on a
// connection from the thread that owns it. Handlers run on that thread, one
// at a time: a slow handler (a 100 ms profile build) delays the others by
// that much, no more, and handlers need no locks against each other.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/http_request.h"

namespace goscope {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra header fields. The server owns Content-Length, Connection, Date and
  // Transfer-Encoding; a handler setting those (or a name or value that is not
  // a valid field) gets a 500 instead.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called for a GET or HEAD of its exact path (for HEAD the server drops the
// body). May throw: the client then gets a 500 and the log gets the message.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpRequestLimits {
  size_t max_head_bytes = 8 * 1024;  // request line + headers + the blank line (414, 431 beyond)
  size_t max_headers = 64;           // header fields (431 beyond)
};

struct HttpServerLimits {
  HttpRequestLimits request;
  int max_connections = 64;                         // open at once; one more is sent 503 and closed
  // Open at once from one client (an IPv4 address, an IPv6 /64); one more is
  // sent 503 and closed. Well below max_connections, so that a client holding
  // all of its connections leaves room for everyone else.
  int max_connections_per_client = 8;
  std::chrono::milliseconds read_timeout{5000};     // for the whole head, from accept (408)
  std::chrono::milliseconds write_timeout{10000};   // for the whole response; then the connection is dropped
  double rate_per_second = 20;                      // per client; <= 0 turns rate limiting off
  double rate_burst = 40;                           // requests a quiet client may send at once
};

struct HttpServerOptions {
  // "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464", "[::]:9464", "localhost:9464".
  // Numeric addresses only (no name is resolved); port 0 picks a free port.
  std::string listen = "127.0.0.1:9464";
  // "" means no authentication, which is allowed on loopback addresses only.
  std::string bearer_token;
  HttpServerLimits limits;
  // Where failures that the client only sees as a status go (a handler's
  // exception, an invalid response), and libmicrohttpd's own messages (at
  // most 10 a minute: a flood of bad requests must not flood the journal).
  // Default: one line on stderr.
  std::function<void(const std::string&)> log;
};

class HttpServer {
 public:
  // Checks the options: throws Error for an unparsable listen address, a
  // token a client could not send, or a non-loopback address without a token.
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers the handler for exactly this path ("/metrics"). Before Start only.
  void Handle(const std::string& path, HttpHandler handler);

  // Binds (SO_REUSEADDR), listens and starts serving on a thread of its own.
  // Returns the bound port (the one chosen when the address asked for port 0).
  // Throws Error naming the address when it cannot listen.
  uint16_t Start();

  // Stops serving and joins the thread; open connections are closed. Returns
  // within one poll wake-up (plus a handler that is running). Idempotent; not
  // to be called from a handler.
  void Stop();

  uint16_t port() const;  // 0 before Start
  // Connections accepted and not yet closed, refused ones included.
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for what a Bearer token may contain (RFC 6750 b64token:
// letters, digits, -._~+/ and trailing '=').
bool IsValidBearerToken(std::string_view token);

// Reads a bearer token from a file, with surrounding whitespace (a trailing
// newline) trimmed. Like ssh with a private key, it refuses a file that group
// or others can read or write: a secret any local user can read is none, and
// the agent runs as root. (In Kubernetes mount the Secret with defaultMode
// 0400.) Throws Error naming the file for that, a missing or unreadable file,
// a non-regular file, one over 4 KiB, or a token that is empty or invalid.
std::string LoadBearerToken(const std::string& path);

}  // namespace goscope
