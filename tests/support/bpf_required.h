// BPF tests run wherever BPF can load. Where it cannot they skip with the
// reason, unless GOSCOPE_REQUIRE_BPF=1 (set by .ci/run): then they fail, so CI
// can never pass by skipping them.
#pragma once
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "probes/uprobe_links.h"

#define GOSCOPE_REQUIRE_BPF_OR_SKIP()                                                  \
  do {                                                                                 \
    std::string why_;                                                                  \
    if (!goscope::CanLoadBpf(&why_)) {                                                 \
      const char* req_ = std::getenv("GOSCOPE_REQUIRE_BPF");                           \
      if (req_ && std::string(req_) == "1") FAIL() << "BPF required but " << why_;     \
      GTEST_SKIP() << "BPF test skipped: " << why_;                                    \
    }                                                                                  \
  } while (0)
