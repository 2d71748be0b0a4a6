// libFuzzer target: any bytes as what a client sent the agent's HTTP server,
// through the two checks the server makes itself on what libmicrohttpd hands
// it. The first line is the request target, each further line a header field
// ("name:value"). Every input must get a path and query or a refusal, and
// the head a pass or a refusal, within the invariants checked below; a crash,
// sanitizer report, hang or broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/http_request.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool HasControl(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t eol = bytes.find('\n');
  std::string_view target = bytes.substr(0, eol);
  bytes = eol == std::string_view::npos ? std::string_view() : bytes.substr(eol + 1);

  goscope::HttpRequest req;
  if (auto no = goscope::ParseRequestTarget(target, &req)) {
    Check(no->status == 400 && !no->reason.empty());
  } else {
    Check(!req.path.empty() && req.path[0] == '/');
    Check(req.path.find_first_of(std::string_view("\0\r\n ?#", 6)) == std::string::npos);
    Check(target.find(req.path) != std::string_view::npos || req.path == "/");  // as sent, or absolute-form's "/"
    for (const auto& [k, v] : req.query) Check(!k.empty() && !HasControl(k) && !HasControl(v));
  }

  req.method = "GET";
  req.version_minor = size % 2;
  while (!bytes.empty()) {
    eol = bytes.find('\n');
    std::string_view line = bytes.substr(0, eol);
    bytes = eol == std::string_view::npos ? std::string_view() : bytes.substr(eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    req.headers.Add(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  if (auto no = goscope::CheckRequestHead(req)) {
    Check((no->status == 400 || no->status == 413) && !no->reason.empty());
  } else {
    Check(req.headers.Count("Host") == 1 || (req.version_minor == 0 && req.headers.Count("Host") == 0));
    Check(req.headers.Count("Transfer-Encoding") == 0);
    for (const auto& [name, value] : req.headers.fields()) {
      Check(!name.empty() && !HasControl(name) && name.find_first_of(" :") == std::string::npos);
      for (unsigned char c : value) Check(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
  }
  return 0;
}
