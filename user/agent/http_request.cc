#include "agent/http_request.h"

#include <algorithm>

namespace goscope {
namespace {

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 9110 5.6.2: the characters of a method or a header name.
bool IsTchar(unsigned char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool IsCtl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return IsTchar(c); });
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  return true;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

int HexValue(unsigned char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as a space in a query). nullopt for a broken
// escape, or one that decodes to a control character: no handler should ever
// see a NUL or a newline it did not expect.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      unsigned char decoded = static_cast<unsigned char>(hi * 16 + lo);
      if (IsCtl(decoded)) return std::nullopt;
      out += static_cast<char>(decoded);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

HttpParse Fail(int status, std::string reason) {
  HttpParse p;
  p.state = HttpParse::State::kError;
  p.status = status;
  p.reason = std::move(reason);
  return p;
}

// The next line starting at pos, without its terminator (LF or CRLF).
// Returns false when no LF has arrived yet; *next is the offset after the LF.
bool NextLine(std::string_view bytes, size_t pos, std::string_view* line, size_t* next) {
  size_t lf = bytes.find('\n', pos);
  if (lf == std::string_view::npos) return false;
  size_t end = lf;
  if (end > pos && bytes[end - 1] == '\r') end--;
  *line = bytes.substr(pos, end - pos);
  *next = lf + 1;
  return true;
}

// Fills path and query. Returns an error reason, or "" when they are fine.
std::string ParsePathAndQuery(std::string_view path, std::string_view query, HttpRequest* req) {
  if (path.empty() || path[0] != '/') return "request target must be a path starting with '/'";
  // Kept as sent, but a broken escape means a broken client.
  if (!PercentDecode(path, false)) return "bad percent-escape in path";
  req->path = std::string(path);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    size_t eq = param.find('=');
    auto name = PercentDecode(param.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1), true);
    if (!name || !value) return "bad percent-escape in query";
    if (name->empty()) continue;
    req->query.emplace(std::move(*name), std::move(*value));  // first one wins
  }
  return "";
}

// METHOD SP request-target SP HTTP-version (RFC 9112 3).
std::optional<HttpParse> ParseRequestLine(std::string_view line, HttpRequest* req) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(400, "malformed request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Fail(400, "malformed request line (no HTTP version)");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(400, "malformed request line (bad method)");

  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !IsDigit(version[5]) || version[6] != '.' ||
      !IsDigit(version[7]))
    return Fail(400, "malformed request line (bad HTTP version)");
  if (version[5] != '1') return Fail(505, "only HTTP/1.x is supported");
  req->method = std::string(method);
  req->version_minor = version[7] - '0';

  if (target.empty()) return Fail(400, "malformed request line (empty target)");
  for (unsigned char c : target)
    if (IsCtl(c) || c >= 0x80 || c == ' ' || c == '#') return Fail(400, "invalid character in request target");
  // absolute-form (RFC 9112 3.2.2): servers must accept it; the authority is dropped.
  bool absolute = false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!StartsWithIgnoreCase(target, scheme)) continue;
    target.remove_prefix(scheme.size());
    size_t end = std::min(target.find_first_of("/?"), target.size());
    if (end == 0) return Fail(400, "absolute request target without a host");
    target.remove_prefix(end);
    absolute = true;
    break;
  }
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (absolute && path.empty()) path = "/";
  if (std::string why = ParsePathAndQuery(path, query, req); !why.empty()) return Fail(400, why);
  return std::nullopt;
}

// name ":" OWS value OWS (RFC 9112 5).
std::optional<HttpParse> ParseHeaderLine(std::string_view line, HttpRequest* req) {
  if (line[0] == ' ' || line[0] == '\t') return Fail(400, "obsolete line folding in header");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Fail(400, "malformed header line (no ':')");
  std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return Fail(400, "malformed header name");
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  for (unsigned char c : value)
    if (IsCtl(c) && c != '\t') return Fail(400, "control character in header value");
  req->headers.Add(std::string(name), std::string(value));
  return std::nullopt;
}

// What only the whole head can tell: Host and the (refused) body.
std::optional<HttpParse> CheckHead(const HttpRequest& req) {
  size_t hosts = req.headers.Count("Host");
  if (hosts > 1) return Fail(400, "more than one Host header");
  if (hosts == 0 && req.version_minor >= 1) return Fail(400, "HTTP/1.1 request without a Host header");
  if (req.headers.Count("Transfer-Encoding") > 0)
    return Fail(400, "request bodies are not accepted (Transfer-Encoding)");
  std::optional<std::string_view> length;
  for (const auto& [name, value] : req.headers.fields()) {
    if (!EqualsIgnoreCase(name, "Content-Length")) continue;
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return IsDigit(c); }))
      return Fail(400, "malformed Content-Length");
    if (length && *length != value) return Fail(400, "conflicting Content-Length headers");
    length = value;
  }
  if (length && length->find_first_not_of('0') != std::string_view::npos)
    return Fail(413, "request bodies are not accepted");
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> HttpHeaders::Get(std::string_view name) const {
  for (const auto& [n, v] : fields_)
    if (EqualsIgnoreCase(n, name)) return std::string_view(v);
  return std::nullopt;
}

size_t HttpHeaders::Count(std::string_view name) const {
  return std::count_if(fields_.begin(), fields_.end(), [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
}

HttpParse ParseHttpRequest(std::string_view bytes, const HttpRequestLimits& limits) {
  HttpParse out;
  size_t pos = 0;
  // RFC 9112 2.2: a server should ignore blank lines before the request line.
  for (;;) {
    if (bytes.substr(pos, 1) == "\n") {
      pos += 1;
    } else if (bytes.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else {
      break;
    }
  }

  std::string_view line;
  size_t next = 0;
  if (!NextLine(bytes, pos, &line, &next)) {
    if (bytes.size() > limits.max_head_bytes) return Fail(414, "request line too long");
    return out;
  }
  if (next > limits.max_head_bytes) return Fail(414, "request line too long");
  if (auto err = ParseRequestLine(line, &out.request)) return *err;
  pos = next;

  for (;;) {
    if (!NextLine(bytes, pos, &line, &next)) {
      if (bytes.size() > limits.max_head_bytes) return Fail(431, "request header fields too large");
      out.request = HttpRequest();  // incomplete carries no request
      return out;
    }
    if (next > limits.max_head_bytes) return Fail(431, "request header fields too large");
    pos = next;
    if (line.empty()) break;
    if (out.request.headers.size() >= limits.max_headers) return Fail(431, "too many request header fields");
    if (auto err = ParseHeaderLine(line, &out.request)) return *err;
  }
  if (auto err = CheckHead(out.request)) return *err;
  out.state = HttpParse::State::kRequest;
  out.head_size = pos;
  return out;
}

}  // namespace goscope
