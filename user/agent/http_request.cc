#include "agent/http_request.h"

#include <algorithm>

namespace goscope {
namespace {

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 9110 5.6.2: the characters of a method or a header name.
bool IsTchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
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

int HexValue(unsigned char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as a space in a query). nullopt for a broken
// escape, or one that decodes to a control character.
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

HttpRefusal BadRequest(std::string reason) { return HttpRefusal{400, std::move(reason)}; }

}  // namespace

std::optional<std::string_view> HttpHeaders::Get(std::string_view name) const {
  for (const auto& [n, v] : fields_)
    if (EqualsIgnoreCase(n, name)) return std::string_view(v);
  return std::nullopt;
}

size_t HttpHeaders::Count(std::string_view name) const {
  return std::count_if(fields_.begin(), fields_.end(), [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
}

std::optional<HttpRefusal> ParseRequestTarget(std::string_view target, HttpRequest* req) {
  if (target.empty()) return BadRequest("malformed request line (empty target)");
  for (unsigned char c : target)
    if (IsCtl(c) || c >= 0x80 || c == ' ' || c == '#') return BadRequest("invalid character in request target");
  // absolute-form (RFC 9112 3.2.2): servers must accept it.
  bool absolute = false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() < scheme.size() || !EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) continue;
    target.remove_prefix(scheme.size());
    size_t end = std::min(target.find_first_of("/?"), target.size());
    if (end == 0) return BadRequest("absolute request target without a host");
    target.remove_prefix(end);
    absolute = true;
    break;
  }
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (absolute && path.empty()) path = "/";
  if (path.empty() || path[0] != '/') return BadRequest("request target must be a path starting with '/'");
  // Kept as sent, but a broken escape means a broken client.
  if (!PercentDecode(path, false)) return BadRequest("bad percent-escape in path");
  req->path = std::string(path);
  req->query.clear();
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    size_t eq = param.find('=');
    auto name = PercentDecode(param.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1), true);
    if (!name || !value) return BadRequest("bad percent-escape in query");
    if (name->empty()) continue;
    req->query.emplace(std::move(*name), std::move(*value));  // first one wins
  }
  return std::nullopt;
}

std::optional<HttpRefusal> CheckRequestHead(const HttpRequest& req) {
  if (!IsToken(req.method)) return BadRequest("malformed request line (bad method)");
  for (const auto& [name, value] : req.headers.fields()) {
    if (!IsToken(name)) return BadRequest("malformed header name");
    for (unsigned char c : value)
      if (IsCtl(c) && c != '\t') return BadRequest("control character in header value");
  }
  size_t hosts = req.headers.Count("Host");
  if (hosts > 1) return BadRequest("more than one Host header");
  if (hosts == 0 && req.version_minor >= 1) return BadRequest("HTTP/1.1 request without a Host header");
  if (req.headers.Count("Transfer-Encoding") > 0)
    return BadRequest("request bodies are not accepted (Transfer-Encoding)");
  std::optional<std::string_view> length;
  for (const auto& [name, value] : req.headers.fields()) {
    if (!EqualsIgnoreCase(name, "Content-Length")) continue;
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return IsDigit(c); }))
      return BadRequest("malformed Content-Length");
    if (length && *length != value) return BadRequest("conflicting Content-Length headers");
    length = value;
  }
  if (length && length->find_first_not_of('0') != std::string_view::npos)
    return HttpRefusal{413, "request bodies are not accepted"};
  return std::nullopt;
}

}  // namespace goscope
