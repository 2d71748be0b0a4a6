// The Go test binaries built by scripts/build-test-binaries.sh (read from
// their manifest) and the installed Go toolchains, whose tools serve as
// oracles.
#pragma once

#include <string>
#include <vector>

#include "child.h"  // RunCommand and ShellQuote, used with these everywhere

namespace goscope::testing {

// One row of OUTDIR/manifest.tsv.
struct TestBinary {
  std::string name;        // program: symtest, demo, cgotest
  std::string go_version;  // full toolchain version, e.g. go1.22.12
  std::string goroot;      // e.g. /usr/lib/go-1.22
  std::string variant;     // plain, stripped, pie, cgo, cgo-stripped
  std::string path;        // absolute path of the binary
};

// Directory holding manifest.tsv: $GOSCOPE_TESTBIN_DIR if set in the
// environment, else the directory CMake configured.
std::string TestBinDir();

std::string TestBinaryLabel(const TestBinary& b);

bool FileExists(const std::string& path);

// Reads the manifest. A missing or malformed manifest, or a listed binary
// that does not exist, is a test failure (ADD_FAILURE), never a skip: the
// binaries are a build product the tests require. Returns what it could read.
std::vector<TestBinary> LoadTestBinaries();

// ---- Go toolchains ---------------------------------------------------------

// "go1.22.12" -> {1, 22, 12}; "go1.21rc2" -> {1, 21, 0}; unparsable -> {0,0,0}.
struct GoVersion {
  int major = 0, minor = 0, patch = 0;
  bool operator<(const GoVersion& o) const;
};
GoVersion ParseGoVersion(const std::string& v);

// The build of program `name`, variant `variant`, by the newest toolchain
// that built one; nullptr if none did.
const TestBinary* NewestBuild(const std::vector<TestBinary>& bins, const std::string& name,
                              const std::string& variant);
// Likewise by the oldest toolchain.
const TestBinary* OldestBuild(const std::vector<TestBinary>& bins, const std::string& name,
                              const std::string& variant);

struct GoToolchain {
  std::string version;  // go1.22.12
  std::string goroot;   // /usr/lib/go-1.22
  std::string tooldir;  // $(go env GOTOOLDIR)
  std::string go() const { return goroot + "/bin/go"; }
  // Command prefix that runs `go tool NAME` (the prebuilt tool if present).
  std::string Tool(const std::string& name) const;
};

std::string Trim(std::string s);

// Environment for running Go tools: offline, no toolchain switching, and
// os.UserConfigDir() (go1.23+ telemetry counters, `go env -w` settings)
// pointed under the test binary directory instead of the user's home.
std::string GoEnvPrefix();

// Toolchains at /usr/lib/go-1.*/bin/go, oldest first. Cached.
const std::vector<GoToolchain>& InstalledGoToolchains();

// The toolchain to read a binary built by go_version with: same major.minor
// if installed, else the newest. Older tools cannot read newer binaries (an
// old addr2line answers "?" for everything), newer ones read older formats.
// nullptr if no toolchain is installed.
const GoToolchain* ToolchainFor(const std::string& go_version);

// Go version recorded in a binary's build info ("go1.19.8"), read with the
// newest toolchain's `go version`; "" if it has none.
std::string BinaryGoVersion(const std::string& path);

}  // namespace goscope::testing
