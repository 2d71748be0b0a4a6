// libFuzzer target: any bytes as what a client sent the agent's HTTP server.
// The parser must answer every input with incomplete, an error status or a
// request, within its limits; a crash, sanitizer report, hang or broken
// invariant (checked below) is a bug.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  goscope::HttpRequestLimits limits;
  limits.max_head_bytes = 1024;  // small, so the fuzzer reaches the limits
  limits.max_headers = 8;
  for (const auto& lim : {goscope::HttpRequestLimits{}, limits}) {
    goscope::HttpParse p = goscope::ParseHttpRequest(bytes, lim);
    switch (p.state) {
      case goscope::HttpParse::State::kIncomplete:
        Check(size <= lim.max_head_bytes);
        break;
      case goscope::HttpParse::State::kError:
        Check(p.status == 400 || p.status == 413 || p.status == 414 || p.status == 431 || p.status == 505);
        Check(!p.reason.empty());
        break;
      case goscope::HttpParse::State::kRequest: {
        const auto& r = p.request;
        Check(p.head_size > 0 && p.head_size <= size && p.head_size <= lim.max_head_bytes);
        Check(!r.method.empty() && !r.path.empty() && r.path[0] == '/');
        Check(r.headers.size() <= lim.max_headers);
        Check(r.path.find_first_of(std::string_view("\0\r\n ?#", 6)) == std::string::npos);
        for (const auto& [k, v] : r.query)
          for (unsigned char c : k + v) Check(c >= 0x20 && c != 0x7f);
        // Adding bytes after a complete head changes nothing.
        std::string more(bytes.substr(0, p.head_size));
        more += "GARBAGE\r\n";
        goscope::HttpParse q = goscope::ParseHttpRequest(more, lim);
        Check(q.state == goscope::HttpParse::State::kRequest && q.head_size == p.head_size &&
              q.request.path == r.path && q.request.query == r.query);
        break;
      }
    }
  }
  return 0;
}
