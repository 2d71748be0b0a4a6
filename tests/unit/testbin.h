// Test helpers shared by the unit tests: the Go test binaries built by
// scripts/build-test-binaries.sh, the installed Go toolchains (whose tools
// serve as oracles), and a small process runner.
//
// Header-only on purpose: tests/CMakeLists.txt compiles only
// tests/unit/*_test.cc into the test executable.
#pragma once

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#ifndef GOSCOPE_TESTBIN_DIR
#error "GOSCOPE_TESTBIN_DIR must be defined (tests/CMakeLists.txt does)"
#endif

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
inline std::string TestBinDir() {
  const char* env = std::getenv("GOSCOPE_TESTBIN_DIR");
  return env && *env ? env : GOSCOPE_TESTBIN_DIR;
}

inline std::string TestBinaryLabel(const TestBinary& b) {
  return b.go_version + "/" + b.name + "-" + b.variant;
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Reads the manifest. A missing or malformed manifest, or a listed binary
// that does not exist, is a test failure (ADD_FAILURE), never a skip: the
// binaries are a build product the tests require. Returns what it could read.
inline std::vector<TestBinary> LoadTestBinaries() {
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

// Quotes s for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs cmd with /bin/sh -c, feeding stdin_data to its stdin, and returns its
// stdout. *exit_code gets the exit status (128+N if killed by signal N, -1 if
// it could not be started). stderr is captured into *stderr_out if given,
// else inherited. No temp files, no deadlock on large input and output.
inline std::string RunCommand(const std::string& cmd, const std::string& stdin_data, int* exit_code,
                              std::string* stderr_out = nullptr) {
  if (exit_code) *exit_code = -1;
  int in_p[2], out_p[2], err_p[2] = {-1, -1};
  if (::pipe2(in_p, O_CLOEXEC) != 0) return {};
  if (::pipe2(out_p, O_CLOEXEC) != 0) {
    ::close(in_p[0]), ::close(in_p[1]);
    return {};
  }
  if (stderr_out && ::pipe2(err_p, O_CLOEXEC) != 0) {
    ::close(in_p[0]), ::close(in_p[1]), ::close(out_p[0]), ::close(out_p[1]);
    return {};
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_p[0], 0);
    ::dup2(out_p[1], 1);
    if (stderr_out) ::dup2(err_p[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in_p[0]);
  ::close(out_p[1]);
  if (stderr_out) ::close(err_p[1]);
  if (pid < 0) {
    ::close(in_p[1]), ::close(out_p[0]);
    if (stderr_out) ::close(err_p[0]);
    return {};
  }
  // Writing to a child that exited early must not kill the test with SIGPIPE.
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);

  std::string out, err;
  size_t written = 0;
  int wfd = in_p[1];
  if (stdin_data.empty()) ::close(wfd), wfd = -1;
  int rfd = out_p[0], efd = stderr_out ? err_p[0] : -1;
  if (wfd >= 0) ::fcntl(wfd, F_SETFL, ::fcntl(wfd, F_GETFL) | O_NONBLOCK);
  char buf[65536];
  while (wfd >= 0 || rfd >= 0 || efd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (wfd >= 0) fds[n++] = {wfd, POLLOUT, 0};
    if (rfd >= 0) fds[n++] = {rfd, POLLIN, 0};
    if (efd >= 0) fds[n++] = {efd, POLLIN, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      int fd = fds[i].fd;
      if (fd == wfd) {
        ssize_t w = ::write(wfd, stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_data.size()) {
          ::close(wfd);
          wfd = -1;
        }
      } else {
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r > 0) {
          (fd == rfd ? out : err).append(buf, static_cast<size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          ::close(fd);
          (fd == rfd ? rfd : efd) = -1;
        }
      }
    }
  }
  ::sigaction(SIGPIPE, &old, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exit_code) {
    if (WIFEXITED(status))
      *exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      *exit_code = 128 + WTERMSIG(status);
  }
  if (stderr_out) *stderr_out = std::move(err);
  return out;
}

// ---- Go toolchains ---------------------------------------------------------

// "go1.22.12" -> {1, 22, 12}; "go1.21rc2" -> {1, 21, 0}; unparsable -> {0,0,0}.
struct GoVersion {
  int major = 0, minor = 0, patch = 0;
  bool operator<(const GoVersion& o) const {
    return std::tie(major, minor, patch) < std::tie(o.major, o.minor, o.patch);
  }
};
inline GoVersion ParseGoVersion(const std::string& v) {
  GoVersion g;
  if (v.rfind("go", 0) != 0) return g;
  std::sscanf(v.c_str() + 2, "%d.%d.%d", &g.major, &g.minor, &g.patch);
  return g;
}

// The build of program `name`, variant `variant`, by the newest toolchain
// that built one; nullptr if none did.
inline const TestBinary* NewestBuild(const std::vector<TestBinary>& bins, const std::string& name,
                                     const std::string& variant) {
  const TestBinary* newest = nullptr;
  for (const auto& b : bins)
    if (b.name == name && b.variant == variant &&
        (!newest || ParseGoVersion(newest->go_version) < ParseGoVersion(b.go_version)))
      newest = &b;
  return newest;
}

struct GoToolchain {
  std::string version;  // go1.22.12
  std::string goroot;   // /usr/lib/go-1.22
  std::string tooldir;  // $(go env GOTOOLDIR)
  std::string go() const { return goroot + "/bin/go"; }
  // Command prefix that runs `go tool NAME` (the prebuilt tool if present).
  std::string Tool(const std::string& name) const {
    std::string direct = tooldir + "/" + name;
    if (!tooldir.empty() && ::access(direct.c_str(), X_OK) == 0) return ShellQuote(direct);
    return ShellQuote(go()) + " tool " + name;
  }
};

inline std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Environment for running Go tools: offline, no toolchain switching, and
// os.UserConfigDir() (go1.23+ telemetry counters, `go env -w` settings)
// pointed under the test binary directory instead of the user's home.
inline std::string GoEnvPrefix() {
  return "env GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off XDG_CONFIG_HOME=" +
         ShellQuote(TestBinDir() + "/.config") + " ";
}

// Toolchains at /usr/lib/go-1.*/bin/go, oldest first. Cached.
inline const std::vector<GoToolchain>& InstalledGoToolchains() {
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

// The toolchain to read a binary built by go_version with: same major.minor
// if installed, else the newest. Older tools cannot read newer binaries (an
// old addr2line answers "?" for everything), newer ones read older formats.
// nullptr if no toolchain is installed.
inline const GoToolchain* ToolchainFor(const std::string& go_version) {
  const auto& all = InstalledGoToolchains();
  if (all.empty()) return nullptr;
  GoVersion want = ParseGoVersion(go_version);
  for (const auto& tc : all) {
    GoVersion have = ParseGoVersion(tc.version);
    if (have.major == want.major && have.minor == want.minor) return &tc;
  }
  return &all.back();
}

// Go version recorded in a binary's build info ("go1.19.8"), read with the
// newest toolchain's `go version`; "" if it has none.
inline std::string BinaryGoVersion(const std::string& path) {
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
