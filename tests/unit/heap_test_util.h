// Helpers shared by the heap-profiling tests (heap_*_test.cc): a child
// process whose output is read line by line as it comes, `go tool pprof -raw`
// parsed into per-(site, object size) totals, and the heapprog test programs
// from the manifest. Header-only: tests/CMakeLists.txt compiles *_test.cc.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process/memprofilerate.h"
#include "runtime_variables.h"
#include "process/target_process.h"
#include "testbin.h"

namespace goscope::heaptest {

// A child process with stdout and stderr on pipes (and stdin, if asked for;
// else /dev/null); killed (SIGKILL) and reaped on destruction unless already
// waited for.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, bool stdin_pipe = false) {
    int out[2], err[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    if (stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::dup2(stdin_pipe ? in[0] : ::open("/dev/null", O_RDONLY), 0);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      std::vector<char*> a;
      for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      ::execv(a[0], a.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (stdin_pipe) {
      ::close(in[0]);
      stdin_ = in[1];
    }
    fd_[0] = out[0];
    fd_[1] = err[0];
    for (int fd : fd_) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~Child() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    for (int fd : fd_)
      if (fd >= 0) ::close(fd);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Writes to the child's stdin (stdin_pipe); CloseStdin sends it EOF.
  void Write(const std::string& data) {
    if (stdin_ >= 0) (void)!::write(stdin_, data.data(), data.size());
  }
  void CloseStdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void Signal(int sig) const {
    if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
  }
  const std::string& out() const { return buf_[0]; }
  const std::string& err() const { return buf_[1]; }

  // Waits until a complete line of stdout (stream 0) or stderr (1) contains
  // `needle`; returns that line, or nullopt after timeout_ms or at EOF.
  std::optional<std::string> WaitFor(int stream, const std::string& needle, int timeout_ms = 20000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (auto line = FindLine(stream, needle)) return line;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || (fd_[0] < 0 && fd_[1] < 0)) return FindLine(stream, needle);
      Pump(static_cast<int>(std::min<long long>(left.count(), 100)));
    }
  }

  // Reads until both pipes close, then reaps. Returns the exit code (128+N if
  // killed by signal N), or -1 after timeout_ms (the child is then killed).
  int Wait(int timeout_ms = 30000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fd_[0] >= 0 || fd_[1] >= 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        break;
      }
      Pump(100);
    }
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        if (WIFEXITED(st)) return WEXITSTATUS(st);
        if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
        return -1;
      }
      if (r < 0) return -1;
      if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
      ::usleep(10000);
    }
  }

 private:
  std::optional<std::string> FindLine(int stream, const std::string& needle) {
    std::stringstream ss(buf_[stream]);
    for (std::string l; std::getline(ss, l);)
      if (!ss.eof() && l.find(needle) != std::string::npos) return l;
    return std::nullopt;
  }
  void Pump(int ms) {
    pollfd p[2];
    int n = 0;
    for (int fd : fd_)
      if (fd >= 0) p[n++] = {fd, POLLIN, 0};
    if (n == 0) return;
    if (::poll(p, n, ms) <= 0) return;
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      int s = p[i].fd == fd_[0] ? 0 : 1;
      char buf[65536];
      ssize_t r = ::read(fd_[s], buf, sizeof buf);
      if (r > 0) {
        buf_[s].append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fd_[s]);
        fd_[s] = -1;
      }
    }
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  bool reaped_ = false;
  int fd_[2] = {-1, -1};
  std::string buf_[2];
};

// A fresh directory, removed with its contents at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "goscope-heap-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Per (leaf function, object size) totals of a heap profile, from `go tool pprof -raw`.
struct SiteValues {
  int64_t alloc_objects = 0, alloc_space = 0, inuse_objects = 0, inuse_space = 0;
  int64_t raw_alloc = 0, raw_inuse = 0;  // unscaled sample counts (scaling inverted per sample)
  int samples = 0;
};
struct RawHeapProfile {
  std::map<std::string, std::string> header;  // "Period" -> "524288", ...
  std::string sample_types;   // "alloc_objects/count alloc_space/bytes ..." ([dflt] removed)
  bool default_type_marked = false;  // a default sample type is set
  std::map<std::pair<std::string, int64_t>, SiteValues> sites;  // (leaf function, bytes label)
  int unlabelled = 0;
};

// runtime/pprof's scale factor for objects of `size` bytes at `rate`.
inline double HeapScale(int64_t size, int64_t rate) {
  if (rate <= 1) return 1;
  return 1 / (1 - std::exp(-static_cast<double>(size) / static_cast<double>(rate)));
}

// Runs `go tool pprof -raw [-base BASE]` (newest toolchain) on path and sums
// its samples by leaf function (after goscope's runtime-frame cut) and
// "bytes" label (with a base, its samples count negatively: a window's diff).
inline RawHeapProfile ReadHeapProfile(const std::string& path, const std::string& base = "") {
  RawHeapProfile p;
  const auto& tcs = testing::InstalledGoToolchains();
  if (tcs.empty()) {
    ADD_FAILURE() << "no Go toolchain";
    return p;
  }
  int rc = 0;
  std::string err;
  std::string out = testing::RunCommand(
      testing::GoEnvPrefix() + tcs.back().Tool("pprof") + " -raw " +
          (base.empty() ? std::string() : "-base " + testing::ShellQuote(base) + " ") + testing::ShellQuote(path),
      "", &rc, &err);
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(err, "") << "go tool pprof complained";
  static const std::regex header(R"(^(\w+): (.*)$)");
  static const std::regex sample(R"(^\s*(-?\d+(?:\s+-?\d+)*):((?: \d+)*)\s*$)");
  static const std::regex label(R"(^\s*bytes:\[(\d+)\]\s*$)");
  static const std::regex location(R"(^\s*(\d+): 0x[0-9a-f]+ ?(?:M=\d+)? ?(\S+)?.*$)");
  struct Sample {
    std::vector<int64_t> v;
    uint64_t leaf = 0;
    int64_t bytes = -1;
  };
  std::vector<Sample> samples;
  std::map<uint64_t, std::string> first_line;  // location -> its innermost function
  enum { kHeader, kTypes, kSamples, kLocations, kMappings } section = kHeader;
  std::stringstream ss(out);
  uint64_t cur_loc = 0;
  for (std::string line; std::getline(ss, line);) {
    std::smatch m;
    if (line == "Samples:") {
      section = kTypes;
    } else if (line == "Locations") {
      section = kLocations;
    } else if (line == "Mappings") {
      section = kMappings;
    } else if (section == kHeader && std::regex_match(line, m, header)) {
      p.header[m[1]] = m[2];
    } else if (section == kTypes) {
      p.sample_types = testing::Trim(line);
      if (auto d = p.sample_types.find("[dflt]"); d != std::string::npos) {
        p.default_type_marked = true;
        p.sample_types.erase(d, 6);
      }
      section = kSamples;
    } else if (section == kSamples && std::regex_match(line, m, sample)) {
      Sample s;
      std::stringstream vs(m[1].str()), ids(m[2].str());
      for (int64_t v; vs >> v;) s.v.push_back(v);
      ids >> s.leaf;
      samples.push_back(s);
    } else if (section == kSamples && std::regex_match(line, m, label) && !samples.empty()) {
      samples.back().bytes = std::stoll(m[1]);
    } else if (section == kLocations && std::regex_match(line, m, location)) {
      cur_loc = std::stoull(m[1]);
      if (m[2].matched) first_line[cur_loc] = m[2];
    }
  }
  int64_t rate = p.header.count("Period") ? std::stoll(p.header["Period"]) : 1;
  for (const auto& s : samples) {
    if (s.bytes < 0) {
      ++p.unlabelled;
      continue;
    }
    std::string fn = first_line.count(s.leaf) ? first_line[s.leaf] : "?";
    SiteValues& v = p.sites[{fn, s.bytes}];
    double scale = HeapScale(s.bytes, rate);
    v.samples++;
    if (s.v.size() >= 2) {
      v.alloc_objects += s.v[0];
      v.alloc_space += s.v[1];
      v.raw_alloc += std::llround(static_cast<double>(s.v[0]) / scale);
    }
    if (s.v.size() >= 4) {
      v.inuse_objects += s.v[2];
      v.inuse_space += s.v[3];
      v.raw_inuse += std::llround(static_cast<double>(s.v[2]) / scale);
    }
  }
  return p;
}

// Sum over every object size of a leaf function.
inline SiteValues SiteTotal(const RawHeapProfile& p, const std::string& fn) {
  SiteValues t;
  for (const auto& [k, v] : p.sites) {
    if (k.first != fn) continue;
    t.alloc_objects += v.alloc_objects;
    t.alloc_space += v.alloc_space;
    t.inuse_objects += v.inuse_objects;
    t.inuse_space += v.inuse_space;
    t.raw_alloc += v.raw_alloc;
    t.raw_inuse += v.raw_inuse;
    t.samples += v.samples;
  }
  return t;
}

// The heapprog programs of the manifest (name heapprog or heapprog_pprof; plain and stripped).
inline std::vector<testing::TestBinary> HeapPrograms(const std::string& name) {
  std::vector<testing::TestBinary> out;
  for (auto& b : testing::LoadTestBinaries())
    if (b.name == name) out.push_back(b);
  if (out.empty()) ADD_FAILURE() << "no " << name << " binaries in the manifest; rebuild them with scripts/build-test-binaries.sh";
  return out;
}

// runtime.MemProfileRate of a live process, read from its memory as goscope does.
inline std::optional<int64_t> TargetMemProfileRate(pid_t pid) {
  try {
    TargetProcess t = TargetProcess::Find(pid);
    RuntimeLayout layout = ResolveRuntimeLayout(*t.binary);
    return ReadMemProfileRate(pid, MemProfileRateAddress(t, layout));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "reading MemProfileRate of " << pid << ": " << e.what();
    return std::nullopt;
  }
}

// "heapprog: site NAME size=S alloc_objects=N alloc_bytes=N inuse_objects=N inuse_bytes=N" lines.
struct GoSite {
  int64_t alloc_objects = 0, alloc_bytes = 0, inuse_objects = 0, inuse_bytes = 0;
};
inline std::map<std::pair<std::string, int64_t>, GoSite> ParseGoSites(const std::string& out) {
  static const std::regex re(
      R"(^heapprog: site (\S+) size=(\d+) alloc_objects=(-?\d+) alloc_bytes=(-?\d+) inuse_objects=(-?\d+) inuse_bytes=(-?\d+)$)");
  std::map<std::pair<std::string, int64_t>, GoSite> sites;
  std::stringstream ss(out);
  for (std::string l; std::getline(ss, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, re)) continue;
    sites[{"goscope.test/heapwork." + m[1].str(), std::stoll(m[2])}] = {std::stoll(m[3]), std::stoll(m[4]),
                                                                         std::stoll(m[5]), std::stoll(m[6])};
  }
  return sites;
}

inline std::string GoscopeBinary() { return GOSCOPE_BINARY; }

}  // namespace goscope::heaptest
