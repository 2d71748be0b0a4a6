#include "testbin.h"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

#ifndef GOSCOPE_TESTBIN_DIR
#error "GOSCOPE_TESTBIN_DIR must be defined (tests/support/CMakeLists.txt does)"
#endif

namespace goscope::testing {

std::string TestBinDir() {
  const char* env = std::getenv("GOSCOPE_TESTBIN_DIR");
  return env && *env ? env : GOSCOPE_TESTBIN_DIR;
}

std::string TestBinaryLabel(const TestBinary& b) { return b.go_version + "/" + b.name + "-" + b.variant; }

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<TestBinary> LoadTestBinaries() {
  const std::string manifest = TestBinDir() + "/manifest.tsv";
  const std::string hint = "build them with: scripts/build-test-binaries.sh " + TestBinDir() +
                           "  (or: cmake --build BUILD --target go_test_binaries)";
  std::ifstream in(manifest);
  if (!in) {
    ADD_FAILURE() << "Go test binaries missing: cannot read " << manifest << "; " << hint;
    return {};
  }
  std::vector<TestBinary> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (lineno == 1) {
      if (cols != std::vector<std::string>{"name", "go_version", "goroot", "variant", "path"}) {
        ADD_FAILURE() << manifest << ": unexpected header '" << line << "'; " << hint;
        return {};
      }
      continue;
    }
    if (cols.size() != 5) {
      ADD_FAILURE() << manifest << ":" << lineno << ": expected 5 tab-separated columns: '" << line << "'";
      continue;
    }
    TestBinary b{cols[0], cols[1], cols[2], cols[3], cols[4]};
    if (!FileExists(b.path)) {
      ADD_FAILURE() << manifest << ":" << lineno << ": " << b.path << " does not exist; " << hint;
      continue;
    }
    out.push_back(std::move(b));
  }
  if (out.empty()) ADD_FAILURE() << manifest << " lists no binaries; " << hint;
  return out;
}

bool GoVersion::operator<(const GoVersion& o) const {
  return std::tie(major, minor, patch) < std::tie(o.major, o.minor, o.patch);
}

GoVersion ParseGoVersion(const std::string& v) {
  GoVersion g;
  if (v.rfind("go", 0) != 0) return g;
  std::sscanf(v.c_str() + 2, "%d.%d.%d", &g.major, &g.minor, &g.patch);
  return g;
}

namespace {

// The build of name/variant that `before` puts last.
template <typename Before>
const TestBinary* LastBuild(const std::vector<TestBinary>& bins, const std::string& name, const std::string& variant,
                            Before before) {
  const TestBinary* last = nullptr;
  for (const auto& b : bins)
    if (b.name == name && b.variant == variant && (!last || before(ParseGoVersion(last->go_version), ParseGoVersion(b.go_version))))
      last = &b;
  return last;
}

}  // namespace

const TestBinary* NewestBuild(const std::vector<TestBinary>& bins, const std::string& name,
                              const std::string& variant) {
  return LastBuild(bins, name, variant, [](const GoVersion& a, const GoVersion& b) { return a < b; });
}

const TestBinary* OldestBuild(const std::vector<TestBinary>& bins, const std::string& name,
                              const std::string& variant) {
  return LastBuild(bins, name, variant, [](const GoVersion& a, const GoVersion& b) { return b < a; });
}

std::string GoToolchain::Tool(const std::string& name) const {
  std::string direct = tooldir + "/" + name;
  if (!tooldir.empty() && ::access(direct.c_str(), X_OK) == 0) return ShellQuote(direct);
  return ShellQuote(go()) + " tool " + name;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string GoEnvPrefix() {
  return "env GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off XDG_CONFIG_HOME=" +
         ShellQuote(TestBinDir() + "/.config") + " ";
}

const std::vector<GoToolchain>& InstalledGoToolchains() {
  static std::once_flag once;
  static std::vector<GoToolchain> all;
  std::call_once(once, [] {
    glob_t g{};
    if (::glob("/usr/lib/go-1.*/bin/go", 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::string gobin = g.gl_pathv[i];
        GoToolchain tc;
        tc.goroot = gobin.substr(0, gobin.size() - std::strlen("/bin/go"));
        int rc = 0;
        std::string env = RunCommand(GoEnvPrefix() + ShellQuote(gobin) + " env GOVERSION GOTOOLDIR", "", &rc);
        std::stringstream ss(env);
        std::getline(ss, tc.version);
        std::getline(ss, tc.tooldir);
        if (rc != 0 || ParseGoVersion(tc.version).major == 0) continue;
        all.push_back(tc);
      }
    }
    ::globfree(&g);
    std::sort(all.begin(), all.end(), [](const GoToolchain& a, const GoToolchain& b) {
      return ParseGoVersion(a.version) < ParseGoVersion(b.version);
    });
  });
  return all;
}

const GoToolchain* ToolchainFor(const std::string& go_version) {
  const auto& all = InstalledGoToolchains();
  if (all.empty()) return nullptr;
  GoVersion want = ParseGoVersion(go_version);
  for (const auto& tc : all) {
    GoVersion have = ParseGoVersion(tc.version);
    if (have.major == want.major && have.minor == want.minor) return &tc;
  }
  return &all.back();
}

std::string BinaryGoVersion(const std::string& path) {
  const auto& all = InstalledGoToolchains();
  if (all.empty()) return "";
  int rc = 0;
  std::string out = RunCommand(GoEnvPrefix() + ShellQuote(all.back().go()) + " version " + ShellQuote(path), "",
                               &rc, nullptr);
  // "<path>: go1.19.8"
  size_t colon = out.rfind(": ");
  if (rc != 0 || colon == std::string::npos) return "";
  return Trim(out.substr(colon + 2));
}

}  // namespace goscope::testing
