// The head of an HTTP/1.x request, parsed from bytes a stranger sent: pure,
// bounded and strict. The agent answers GET and HEAD only, so a request that
// carries a body is refused here rather than read. Everything the server needs
// to say "no" with the right status (400, 413, 414, 431, 505) comes from here.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goscope {

struct HttpRequestLimits {
  size_t max_head_bytes = 8 * 1024;  // request line + headers + the blank line
  size_t max_headers = 64;
};

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

struct HttpParse {
  enum class State {
    kIncomplete,  // the blank line that ends the head has not arrived; read more
    kError,       // answer `status` with `reason` and close
    kRequest,     // `request` holds the head, which was `head_size` bytes
  };
  State state = State::kIncomplete;
  int status = 0;      // kError: 400, 413, 414, 431 or 505
  std::string reason;  // kError: one line for the client and the log
  HttpRequest request;
  size_t head_size = 0;
};

// Parses the head at the start of `bytes` (everything a connection has sent
// so far). Errors in lines already complete are reported before the head is:
// a bad request line is refused without waiting for the headers. Accepts CRLF
// and bare LF line ends, origin-form ("/path?q") and absolute-form
// ("http://host/path") targets, and requires Host in HTTP/1.1. Refuses:
//   400  malformed request line, target or header; control characters; bad
//        percent-escapes; obs-folded lines; Transfer-Encoding; a bad
//        Content-Length; HTTP/1.1 without exactly one Host
//   413  Content-Length > 0 (no request has a body here)
//   414  a request line longer than the head limit
//   431  a head over limits.max_head_bytes, or more than limits.max_headers fields
//   505  a version other than HTTP/1.x
HttpParse ParseHttpRequest(std::string_view bytes, const HttpRequestLimits& limits = {});

}  // namespace goscope
