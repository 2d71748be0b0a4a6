// The reliability target (tests/go/reliability) as built by
// scripts/build-test-binaries.sh: one binary per installed toolchain and
// variant (plain, stripped, pie, cgo), read from the manifest, plus the
// suite's switches.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "testbin.h"

#ifndef GOSCOPE_BINARY
#error "GOSCOPE_BINARY must be defined (tests/reliability/CMakeLists.txt does)"
#endif

namespace goscope::testing {
// gtest prints test parameters: the label, not the struct's bytes.
inline void PrintTo(const TestBinary& b, std::ostream* os) { *os << TestBinaryLabel(b); }
}  // namespace goscope::testing

namespace goscope::reliability {

using goscope::testing::TestBinary;

// GOSCOPE_RELIABILITY_LONG=1: the whole matrix and 10x the cycles.
inline bool LongRun() {
  const char* v = std::getenv("GOSCOPE_RELIABILITY_LONG");
  return v && std::string(v) == "1";
}

inline std::string GoscopeBinary() { return GOSCOPE_BINARY; }

// The manifest's reliability rows, oldest toolchain first, in the order
// plain, stripped, pie, cgo. Reads quietly (no test failure from here: test
// parameters are generated before any test runs); the Manifest test fails
// when rows are missing.
inline std::vector<TestBinary> ReliabilityBinaries() {
  std::vector<TestBinary> out;
  std::ifstream in(goscope::testing::TestBinDir() + "/manifest.tsv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    if (cols.size() == 5 && cols[0] == "reliability") out.push_back({cols[0], cols[1], cols[2], cols[3], cols[4]});
  }
  auto rank = [](const std::string& v) {
    static const std::vector<std::string> order = {"plain", "stripped", "pie", "cgo"};
    return std::find(order.begin(), order.end(), v) - order.begin();
  };
  std::stable_sort(out.begin(), out.end(), [&](const TestBinary& a, const TestBinary& b) {
    auto va = goscope::testing::ParseGoVersion(a.go_version), vb = goscope::testing::ParseGoVersion(b.go_version);
    if (va < vb || vb < va) return va < vb;
    return rank(a.variant) < rank(b.variant);
  });
  return out;
}

// "go1.22.12/reliability-pie" -> "go1_22_pie", for test names.
inline std::string ShortLabel(const TestBinary& b) {
  auto v = goscope::testing::ParseGoVersion(b.go_version);
  std::string s = "go" + std::to_string(v.major) + "_" + std::to_string(v.minor) + "_" + b.variant;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

// The binary of the newest toolchain with the given variant; nullptr if none.
inline const TestBinary* Newest(const std::vector<TestBinary>& all, const std::string& variant) {
  const TestBinary* best = nullptr;
  for (const auto& b : all)
    if (b.variant == variant) best = &b;  // sorted oldest first
  return best;
}
inline const TestBinary* Oldest(const std::vector<TestBinary>& all, const std::string& variant) {
  for (const auto& b : all)
    if (b.variant == variant) return &b;
  return nullptr;
}

}  // namespace goscope::reliability
