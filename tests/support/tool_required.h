// Tests that need an outside tool (curl, xmllint, promtool, setpriv, ...)
// skip with the reason where it is missing, and fail instead under
// GOSCOPE_REQUIRE_BPF=1 (set by .ci/run): in CI, scripts/install-deps.sh must
// have brought everything the suite uses, and a skip would hide that it did not.
#pragma once

#include <string>

#include <gtest/gtest.h>

namespace goscope::testing {

// An absolute path that is executable, or a name found on PATH.
bool ToolInstalled(const std::string& tool);

// GOSCOPE_REQUIRE_BPF=1: a missing tool fails the test instead of skipping it.
bool ToolsRequired();

}  // namespace goscope::testing

// tool: a name on PATH or an absolute path; package: the Debian package that has it.
#define GOSCOPE_REQUIRE_TOOL_OR_SKIP(tool, package)                                                        \
  do {                                                                                                     \
    if (!::goscope::testing::ToolInstalled(tool)) {                                                        \
      if (::goscope::testing::ToolsRequired())                                                             \
        FAIL() << (tool) << " missing: scripts/install-deps.sh must install " << (package);                \
      GTEST_SKIP() << (tool) << " not installed (apt-get install " << (package) << ")";                    \
    }                                                                                                      \
  } while (0)
