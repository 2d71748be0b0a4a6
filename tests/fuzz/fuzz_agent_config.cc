// libFuzzer target: any bytes as the agent's config file. Exercises the JSON
// parse, the line-mapping second pass and every field's validation, then the
// include/exclude decision with the rules it produced. A clean goscope::Error
// is the expected answer to garbage; anything else (crash, sanitizer report,
// uncaught exception, hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/agent_config.h"
#include "error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    goscope::AgentConfig c = goscope::ParseAgentConfig(text, "fuzz");
    // The rules are globs from the input: match them against paths that hit
    // fnmatch's slash, bracket and escape handling.
    for (const goscope::ProcessInfo& p :
         {goscope::ProcessInfo{"/usr/bin/caddy", "caddy", "/system.slice/caddy.service"},
          goscope::ProcessInfo{"", "", ""}, goscope::ProcessInfo{"/a/[b]/*\\", "[!x]", "/kubepods.slice/x:y:z"}}) {
      goscope::Selection s = goscope::Selects(c, p);
      if (s.reason.empty()) __builtin_trap();  // every decision says why
    }
    for (const auto& r : c.include)
      if (r.Describe().empty()) __builtin_trap();  // a rule gives at least one field
  } catch (const goscope::Error&) {
  }
  return 0;
}
