#include "tool_required.h"

#include <unistd.h>

#include <cstdlib>

#include "child.h"

namespace goscope::testing {

bool ToolInstalled(const std::string& tool) {
  if (tool.find('/') != std::string::npos) return ::access(tool.c_str(), X_OK) == 0;
  int rc = -1;
  RunCommand("command -v " + ShellQuote(tool) + " >/dev/null 2>&1", "", &rc);
  return rc == 0;
}

bool ToolsRequired() {
  const char* v = std::getenv("GOSCOPE_REQUIRE_BPF");
  return v && std::string(v) == "1";
}

}  // namespace goscope::testing
