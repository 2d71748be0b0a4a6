// What a handler sees of a request, and the checks the agent's HTTP server
// makes on untrusted bytes itself. libmicrohttpd reads and splits the head;
// two things it leaves to the server are done here, pure and bounded:
//  - the request target, taken as sent: libmicrohttpd would percent-decode
//    the path, and "/%6detrics" must not be "/metrics"
//  - what a head may hold here, which libmicrohttpd lets through (a body, a
//    header name that is not a token, control characters, a missing Host)
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goscope {

// Header fields in the order received; names compare case-insensitively.
class HttpHeaders {
 public:
  void Add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  // The first field with this name, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  size_t Count(std::string_view name) const;
  size_t size() const { return fields_.size(); }
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct HttpRequest {
  std::string method;  // as sent, case-sensitive ("GET", never "get")
  // The path as sent, without the query: no percent-decoding and no
  // dot-segment removal, so "/%6detrics" and "/a/../metrics" are not
  // "/metrics". Handlers match it byte for byte; it never names a file.
  std::string path;
  // Percent-decoded ('+' is a space), first occurrence of a name wins.
  std::map<std::string, std::string> query;
  HttpHeaders headers;
  int version_minor = 1;  // HTTP/1.<version_minor>
};

// A request the server answers with an error status instead of a handler.
struct HttpRefusal {
  int status;          // 400 or 413
  std::string reason;  // one line for the client
};

// Fills req->path and req->query from a request target as sent: origin-form
// ("/path?q") or absolute-form ("http://host/path?q", the authority dropped).
// Refuses (400) any other form, a control character, a byte over 0x7f, a
// space or '#', a broken percent-escape, or one that decodes to a control
// character: no handler ever sees a NUL or a newline it did not expect.
std::optional<HttpRefusal> ParseRequestTarget(std::string_view target, HttpRequest* req);

// What the server refuses in a head libmicrohttpd has accepted:
//   400  a method or header name that is not a token; a control character in
//        a header value; HTTP/1.1 without exactly one Host (HTTP/1.0: at most
//        one); Transfer-Encoding; a bad or conflicting Content-Length
//   413  Content-Length > 0 (no request has a body here)
std::optional<HttpRefusal> CheckRequestHead(const HttpRequest& req);

}  // namespace goscope
