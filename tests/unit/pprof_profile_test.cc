// The pprof writer against the real reader: profiles are written to disk and
// read back with `go tool pprof` (-raw, -traces, -top), whose parse is the test.
#include <elf.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "error.h"
#include "go_binary.h"
#include "output/pprof_profile.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::GoEnvPrefix;
using testing::GoToolchain;
using testing::InstalledGoToolchains;
using testing::LoadTestBinaries;
using testing::ParseGoVersion;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TestBinary;
namespace fs = std::filesystem;

// A fresh directory, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "goscope-pprof-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    for (auto& e : fs::recursive_directory_iterator(path_, ec)) fs::permissions(e.path(), fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

// `go tool pprof ARGS` with the given toolchain (newest by default); fails the test unless it exits 0.
std::string Pprof(const std::string& args, const GoToolchain* tc = nullptr) {
  const auto& all = InstalledGoToolchains();
  if (!tc) {
    if (all.empty()) {
      ADD_FAILURE() << "no Go toolchain installed under /usr/lib/go-1.*";
      return "";
    }
    tc = &all.back();
  }
  int rc = 0;
  std::string err;
  std::string cmd = GoEnvPrefix() + "TZ=UTC " + tc->Tool("pprof") + " " + args;
  std::string out = RunCommand(cmd, "", &rc, &err);
  EXPECT_EQ(rc, 0) << cmd << "\n" << err;
  EXPECT_EQ(err, "") << cmd;  // no warnings: e.g. no attempt to re-symbolize
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  return lines;
}

// ---- `pprof -raw` ------------------------------------------------------------

struct RawSample {
  std::vector<int64_t> values;
  std::vector<uint64_t> location_ids;
  std::vector<std::string> labels;  // "goroutine:[17]", "bytes:[4096 bytes]"
};
struct RawLine {
  std::string function;
  std::string where;  // file:line (any column dropped: older pprof prints none)
  bool operator==(const RawLine&) const = default;
};
struct RawLocation {
  uint64_t address = 0;
  std::string mapping;  // "M=1" or ""
  std::vector<RawLine> lines;
};
struct RawProfile {
  std::map<std::string, std::string> header;  // "PeriodType" -> "space bytes", ...
  std::string sample_types;                   // the line after "Samples:"
  std::vector<RawSample> samples;
  std::map<uint64_t, RawLocation> locations;
  std::vector<std::string> mappings;
  // Function names of a sample's stack, leaf first, inlined frames expanded.
  std::vector<std::string> Stack(const RawSample& s) const {
    std::vector<std::string> out;
    for (uint64_t id : s.location_ids) {
      auto it = locations.find(id);
      if (it == locations.end()) {
        out.push_back("<missing location " + std::to_string(id) + ">");
        continue;
      }
      if (it->second.lines.empty()) out.push_back("<unsymbolized>");
      for (const auto& l : it->second.lines) out.push_back(l.function);
    }
    return out;
  }
};

RawLine ParseRawLine(const std::string& text) {  // "main.leaf /src/a.go:10:0 s=0"
  std::stringstream ss(text);
  RawLine l;
  ss >> l.function >> l.where;
  static const std::regex col(R"(^(.*:\d+):\d+$)");
  std::smatch m;
  if (std::regex_match(l.where, m, col)) l.where = m[1];
  return l;
}

RawProfile ParseRaw(const std::string& out) {
  static const std::regex header(R"(^(\w+): (.*)$)");
  static const std::regex sample(R"(^\s*(-?\d+(?:\s+-?\d+)*):((?: \d+)*)\s*$)");
  static const std::regex location(R"(^\s*(\d+): 0x([0-9a-f]+) ?(M=\d+)? ?(.*)$)");
  RawProfile p;
  enum { kHeader, kSampleTypes, kSamples, kLocations, kMappings } section = kHeader;
  RawLocation* loc = nullptr;
  for (const std::string& line : Lines(out)) {
    std::smatch m;
    if (line == "Samples:") {
      section = kSampleTypes;
    } else if (line == "Locations") {
      section = kLocations;
    } else if (line == "Mappings") {
      section = kMappings;
    } else if (section == kHeader && std::regex_match(line, m, header)) {
      p.header[m[1]] = m[2];
    } else if (section == kSampleTypes) {
      p.sample_types = line;
      section = kSamples;
    } else if (section == kSamples && std::regex_match(line, m, sample)) {
      RawSample s;
      std::stringstream vs(m[1].str()), ids(m[2].str());
      for (int64_t v; vs >> v;) s.values.push_back(v);
      for (uint64_t id; ids >> id;) s.location_ids.push_back(id);
      p.samples.push_back(s);
    } else if (section == kSamples && !p.samples.empty()) {
      p.samples.back().labels.push_back(testing::Trim(line));
    } else if (section == kLocations && std::regex_match(line, m, location)) {
      loc = &p.locations[std::stoull(m[1])];
      loc->address = std::stoull(m[2], nullptr, 16);
      loc->mapping = m[3];
      if (!testing::Trim(m[4]).empty()) loc->lines.push_back(ParseRawLine(m[4]));
    } else if (section == kLocations && loc) {
      loc->lines.push_back(ParseRawLine(line));
    } else if (section == kMappings) {
      p.mappings.push_back(line);
    } else {
      ADD_FAILURE() << "unexpected pprof -raw line: " << line;
    }
  }
  return p;
}

// ---- `pprof -traces` ---------------------------------------------------------

struct Trace {
  std::vector<std::string> labels;  // "goroutine:  17" (pprof's spacing, trimmed)
  std::string value;                // as pprof formats it: "4kB"
  std::vector<std::string> stack;   // "main.leaf (inline)", ..., leaf first
};

std::vector<Trace> ParseTraces(const std::string& out) {
  std::vector<Trace> traces;
  bool in_samples = false;
  for (const std::string& line : Lines(out)) {
    if (line.rfind("-----------+", 0) == 0) {
      traces.emplace_back();
      in_samples = true;
      continue;
    }
    if (!in_samples) continue;
    // pprof prints labels as "%10s:  %s" and stack lines as "%10s   %s%s".
    if (line.size() > 10 && line[10] == ':') {
      traces.back().labels.push_back(testing::Trim(line));
    } else if (line.size() > 13) {
      if (traces.back().stack.empty()) traces.back().value = testing::Trim(line.substr(0, 10));
      traces.back().stack.push_back(line.substr(13));
    } else {
      ADD_FAILURE() << "unexpected pprof -traces line: " << line;
    }
  }
  if (!traces.empty() && traces.back().stack.empty() && traces.back().labels.empty()) traces.pop_back();
  return traces;
}

// ---- `pprof -top` ------------------------------------------------------------

struct TopRow {
  std::string flat, cum;
};
// Function name (with " (inline)" if pprof adds it) -> flat and cum columns.
std::map<std::string, TopRow> ParseTop(const std::string& out) {
  static const std::regex row(R"(^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$)");
  std::map<std::string, TopRow> rows;
  for (const std::string& line : Lines(out)) {
    std::smatch m;
    if (std::regex_match(line, m, row)) rows[m[3]] = {m[1], m[2]};
  }
  return rows;
}

// ---- A synthetic profile -------------------------------------------------------

constexpr uint64_t kLeafPc = 0x401000, kMainPc = 0x402000, kRuntimeMainPc = 0x403000, kOtherPc = 0x404000,
                   kUnknownPc = 0x999000;

std::vector<PprofFrame> FakeSymbolize(uint64_t pc) {
  switch (pc) {
    case kLeafPc:  // main.leaf and main.mid inlined into main.outer
      return {{"main.leaf", "/src/a.go", 10}, {"main.mid", "/src/a.go", 20}, {"main.outer", "/src/b.go", 30}};
    case kMainPc:
      return {{"main.main", "/src/main.go", 5}};
    case kRuntimeMainPc:
      return {{"runtime.main", "/go/src/runtime/proc.go", 250}};
    case kOtherPc:  // same function and file as in kLeafPc, another line
      return {{"main.mid", "/src/a.go", 22}};
  }
  return {};
}

PprofProfile MakeProfile() {
  PprofProfile p({{"alloc_objects", "count"}, {"alloc_space", "bytes"}});
  p.set_period("space", "bytes", 524288);
  p.set_time(1700000000000000000);  // 2023-11-14 22:13:20 UTC
  p.set_duration(5'000'000'000);
  p.set_default_sample_type("alloc_objects");
  p.add_comment("goscope test profile");
  p.add_mapping(0x400000, 0x800000, 0, "/opt/fake/prog", "0123abcd");
  p.set_symbolizer(FakeSymbolize);
  p.add_sample({kLeafPc, kMainPc, kRuntimeMainPc}, {3, 4096}, {{"goroutine", "17"}}, {{"bytes", 4096, "bytes"}});
  p.add_sample({kOtherPc, kMainPc, kRuntimeMainPc}, {1, 128});
  p.add_sample({kLeafPc, kMainPc, kRuntimeMainPc}, {2, 2048}, {{"goroutine", "18"}, {"phase", "gc"}});
  p.add_sample({kUnknownPc, kRuntimeMainPc}, {5, 50});
  return p;
}

TEST(PprofProfile, GoToolPprofRawReadsEverything) {
  TempDir dir;
  const std::string file = dir.path() + "/alloc.pb.gz";
  MakeProfile().WriteFile(file);
  EXPECT_EQ(dir.List(), std::vector<std::string>{"alloc.pb.gz"});

  RawProfile raw = ParseRaw(Pprof("-raw " + ShellQuote(file)));
  EXPECT_EQ(raw.header["PeriodType"], "space bytes");
  EXPECT_EQ(raw.header["Period"], "524288");
  EXPECT_EQ(raw.header["Duration"], "5s");
  EXPECT_EQ(raw.header["Time"], "2023-11-14 22:13:20 +0000 UTC");
  EXPECT_EQ(raw.header["Comment"], "goscope test profile");
  EXPECT_EQ(raw.sample_types, "alloc_objects/count[dflt] alloc_space/bytes");

  ASSERT_EQ(raw.samples.size(), 4u);
  EXPECT_EQ(raw.samples[0].values, (std::vector<int64_t>{3, 4096}));
  EXPECT_EQ(raw.samples[1].values, (std::vector<int64_t>{1, 128}));
  EXPECT_EQ(raw.samples[2].values, (std::vector<int64_t>{2, 2048}));
  EXPECT_EQ(raw.samples[3].values, (std::vector<int64_t>{5, 50}));
  using V = std::vector<std::string>;
  EXPECT_EQ(raw.Stack(raw.samples[0]), (V{"main.leaf", "main.mid", "main.outer", "main.main", "runtime.main"}));
  EXPECT_EQ(raw.Stack(raw.samples[1]), (V{"main.mid", "main.main", "runtime.main"}));
  EXPECT_EQ(raw.Stack(raw.samples[2]), (V{"main.leaf", "main.mid", "main.outer", "main.main", "runtime.main"}));
  EXPECT_EQ(raw.Stack(raw.samples[3]), (V{"<unsymbolized>", "runtime.main"}));
  EXPECT_EQ(raw.samples[0].labels, (V{"goroutine:[17]", "bytes:[4096 bytes]"}));
  EXPECT_EQ(raw.samples[1].labels, V{});
  EXPECT_EQ(raw.samples[2].labels, V{"goroutine:[18] phase:[gc]"});  // string labels share a line

  // One location per distinct address, shared by the samples that contain it;
  // its lines innermost first, each with its file and line.
  ASSERT_EQ(raw.locations.size(), 5u);
  EXPECT_EQ(raw.samples[0].location_ids, raw.samples[2].location_ids);
  EXPECT_EQ(raw.samples[0].location_ids[1], raw.samples[1].location_ids[1]);
  const RawLocation& leaf = raw.locations.at(raw.samples[0].location_ids[0]);
  EXPECT_EQ(leaf.address, kLeafPc);
  EXPECT_EQ(leaf.mapping, "M=1");
  EXPECT_EQ(leaf.lines, (std::vector<RawLine>{
                            {"main.leaf", "/src/a.go:10"}, {"main.mid", "/src/a.go:20"}, {"main.outer", "/src/b.go:30"}}));
  EXPECT_EQ(raw.locations.at(raw.samples[1].location_ids[0]).lines,
            (std::vector<RawLine>{{"main.mid", "/src/a.go:22"}}));
  const RawLocation& unknown = raw.locations.at(raw.samples[3].location_ids[0]);
  EXPECT_EQ(unknown.address, kUnknownPc);
  EXPECT_EQ(unknown.mapping, "");  // outside the mapping

  ASSERT_EQ(raw.mappings.size(), 1u);
  EXPECT_EQ(raw.mappings[0], "1: 0x400000/0x800000/0x0 /opt/fake/prog 0123abcd [FN][FL][LN][IN]");

  // Every installed toolchain's pprof reads it.
  for (const auto& tc : InstalledGoToolchains()) {
    SCOPED_TRACE(tc.version);
    EXPECT_EQ(ParseRaw(Pprof("-raw " + ShellQuote(file), &tc)).samples.size(), 4u);
  }
}

TEST(PprofProfile, GoToolPprofTracesShowInlinedStacksAndLabels) {
  TempDir dir;
  const std::string file = dir.path() + "/alloc.pb.gz";
  MakeProfile().WriteFile(file);
  std::string out = Pprof("-traces -unit=B -sample_index=alloc_space " + ShellQuote(file));
  EXPECT_NE(out.find("File: prog\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Build ID: 0123abcd\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Type: alloc_space\n"), std::string::npos) << out;
  EXPECT_NE(out.find("goscope test profile\n"), std::string::npos) << out;

  std::vector<Trace> traces = ParseTraces(out);
  ASSERT_EQ(traces.size(), 4u) << out;
  using V = std::vector<std::string>;
  const V inlined_stack{"main.leaf (inline)", "main.mid (inline)", "main.outer", "main.main", "runtime.main"};
  EXPECT_EQ(traces[0].labels, (V{"goroutine:  17", "bytes:  4kB"}));
  EXPECT_EQ(traces[0].value, "4096B");
  EXPECT_EQ(traces[0].stack, inlined_stack);
  EXPECT_EQ(traces[1].labels, V{});
  EXPECT_EQ(traces[1].value, "128B");
  EXPECT_EQ(traces[1].stack, (V{"main.mid", "main.main", "runtime.main"}));
  EXPECT_EQ(traces[2].labels, (V{"phase:  gc", "goroutine:  18"}));  // sorted as right-aligned text
  EXPECT_EQ(traces[2].value, "2048B");
  EXPECT_EQ(traces[2].stack, inlined_stack);
  EXPECT_EQ(traces[3].value, "50B");
  EXPECT_EQ(traces[3].stack, (V{"<unknown>", "runtime.main"}));

  // The default sample type is the first one.
  traces = ParseTraces(Pprof("-traces " + ShellQuote(file)));
  ASSERT_EQ(traces.size(), 4u);
  EXPECT_EQ(traces[0].value, "3");
  EXPECT_EQ(traces[3].value, "5");
}

TEST(PprofProfile, GoToolPprofTopAddsUpBothSampleTypes) {
  TempDir dir;
  const std::string file = dir.path() + "/alloc.pb.gz";
  MakeProfile().WriteFile(file);

  std::string out = Pprof("-top -unit=B -sample_index=alloc_space " + ShellQuote(file));
  EXPECT_NE(out.find("of 6322B total"), std::string::npos) << out;
  auto top = ParseTop(out);
  EXPECT_EQ(top["main.leaf (inline)"].flat, "6144B") << out;
  // main.mid is inlined in one location and not in another: one function, flat from the latter.
  EXPECT_EQ(top["main.mid (partial-inline)"].flat, "128B") << out;
  EXPECT_EQ(top["main.mid (partial-inline)"].cum, "6272B") << out;
  EXPECT_EQ(top["main.main"].cum, "6272B") << out;
  EXPECT_EQ(top["runtime.main"].cum, "6322B") << out;

  out = Pprof("-top -sample_index=alloc_objects " + ShellQuote(file));
  EXPECT_NE(out.find("of 11 total"), std::string::npos) << out;
  top = ParseTop(out);
  EXPECT_EQ(top["main.leaf (inline)"].flat, "5") << out;
  EXPECT_EQ(top["main.outer"].cum, "5") << out;
  EXPECT_EQ(top["runtime.main"].cum, "11") << out;
}

// Top-level fields of a serialized Profile, with the string table decoded.
struct ProtoSummary {
  std::map<int, int> field_counts;
  std::vector<std::string> strings;
};
ProtoSummary Summarize(const std::string& b) {
  ProtoSummary s;
  size_t i = 0;
  auto varint = [&] {
    uint64_t x = 0;
    for (int shift = 0; i < b.size(); shift += 7) {
      uint8_t c = static_cast<uint8_t>(b[i++]);
      x |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) break;
    }
    return x;
  };
  while (i < b.size()) {
    uint64_t tag = varint();
    int field = static_cast<int>(tag >> 3);
    ++s.field_counts[field];
    if ((tag & 7) == 0) {
      varint();
    } else if ((tag & 7) == 2) {
      size_t n = varint();
      if (field == 6) s.strings.push_back(b.substr(i, n));
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << (tag & 7);
      break;
    }
  }
  return s;
}

TEST(PprofProfile, EncodingDeduplicatesAndGzipWrapsTheRawBytes) {
  PprofProfile p = MakeProfile();
  std::string raw = p.Serialize();
  ProtoSummary s = Summarize(raw);
  ASSERT_FALSE(s.strings.empty());
  EXPECT_EQ(s.strings[0], "");
  std::set<std::string> unique(s.strings.begin(), s.strings.end());
  EXPECT_EQ(unique.size(), s.strings.size()) << "string table has duplicates";
  EXPECT_EQ(s.field_counts[1], 2);  // sample types
  EXPECT_EQ(s.field_counts[2], 4);  // samples
  EXPECT_EQ(s.field_counts[3], 1);  // mappings
  EXPECT_EQ(s.field_counts[4], 5);  // locations, one per address
  EXPECT_EQ(s.field_counts[5], 5);  // functions, one per (name, file): main.mid appears in two locations
  EXPECT_EQ(s.field_counts[13], 1);

  int rc = 0;
  EXPECT_EQ(RunCommand("gzip -dc", p.SerializeGzipped(), &rc), raw);
  EXPECT_EQ(rc, 0);

  EXPECT_THROW(p.add_sample({kMainPc}, {1}), Error);  // one value for two sample types
}

// ---- Writing failures ------------------------------------------------------------

TEST(PprofProfile, WriteIntoMissingDirectoryNamesThePathAndLeavesNothing) {
  TempDir dir;
  const std::string file = dir.path() + "/no/such/dir/alloc.pb.gz";
  try {
    MakeProfile().WriteFile(file);
    ADD_FAILURE() << "no error writing " << file;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir.List(), std::vector<std::string>{});
}

TEST(PprofProfile, WriteIntoUnwritableDirectoryNamesThePathAndLeavesNothing) {
  TempDir dir;
  const std::string sub = dir.path() + "/readonly";
  ASSERT_EQ(::mkdir(sub.c_str(), 0555), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const std::string file = sub + "/alloc.pb.gz";
  PprofProfile p = MakeProfile();

  // Root writes anywhere: try as nobody, in a child, and report the error through a pipe.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0 && (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(2);
    std::string msg = "no error";
    try {
      p.WriteFile(file);
    } catch (const Error& e) {
      msg = e.what();
    }
    ssize_t n = ::write(fds[1], msg.data(), msg.size());
    ::_exit(n == static_cast<ssize_t>(msg.size()) ? 0 : 3);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::strerror(EACCES)), std::string::npos) << msg;
  EXPECT_EQ(fs::is_empty(sub), true);
}

TEST(PprofProfile, FailedRenameRemovesTheTemporaryFile) {
  TempDir dir;
  // The destination is a non-empty directory: the temp file is written, the rename fails.
  const std::string file = dir.path() + "/alloc.pb.gz";
  ASSERT_EQ(::mkdir(file.c_str(), 0755), 0);
  ASSERT_EQ(::close(::creat((file + "/keep").c_str(), 0644)), 0);
  try {
    MakeProfile().WriteFile(file);
    ADD_FAILURE() << "no error renaming over " << file;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rename"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir.List(), std::vector<std::string>{"alloc.pb.gz"});
  EXPECT_TRUE(fs::exists(file + "/keep"));
}

TEST(PprofProfile, WriteReplacesAnExistingProfile) {
  TempDir dir;
  const std::string file = dir.path() + "/alloc.pb.gz";
  { std::ofstream(file) << "old contents"; }
  PprofProfile p = MakeProfile();
  p.WriteFile(file);
  EXPECT_EQ(dir.List(), std::vector<std::string>{"alloc.pb.gz"});
  std::ifstream in(file, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int rc = 0;
  EXPECT_EQ(RunCommand("gzip -dc", got, &rc), p.Serialize());
}

// ---- Real symbolization ------------------------------------------------------------

std::vector<PprofFrame> ToPprof(const std::vector<Frame>& frames) {
  std::vector<PprofFrame> out;
  for (const Frame& f : frames) out.push_back({std::string(f.function), std::string(f.file), f.line});
  return out;
}

TEST(PprofProfile, RealBinaryStacksMatchGoBinarySymbolize) {
  auto bins = LoadTestBinaries();
  const TestBinary* pick = nullptr;
  for (const auto& b : bins)
    if (b.name == "symtest" && b.variant == "plain" &&
        (!pick || ParseGoVersion(pick->go_version) < ParseGoVersion(b.go_version)))
      pick = &b;
  ASSERT_NE(pick, nullptr) << "no symtest-plain in the manifest";
  SCOPED_TRACE(testing::TestBinaryLabel(*pick));
  auto bin = GoBinary::Open(pick->path);
  const Pclntab& tab = bin->pclntab();

  // The program pc with the deepest inlining.
  uint64_t inlined_pc = 0;
  size_t depth = 0;
  for (const Func& f : tab.funcs()) {
    if (f.name.rfind("main.", 0) != 0) continue;
    for (uint64_t pc = f.entry; pc < f.end; ++pc) {
      size_t n = bin->Symbolize(pc).size();
      if (n > depth) depth = n, inlined_pc = pc;
    }
  }
  ASSERT_GE(depth, 3u) << "symtest should have nested inlining";
  auto entry = [&](const char* name) {
    const Func* f = tab.LookupFunction(name);
    EXPECT_NE(f, nullptr) << name;
    return f ? f->entry : 0;
  };
  const std::vector<std::vector<uint64_t>> stacks = {
      {inlined_pc, entry("main.main"), entry("runtime.main"), entry("runtime.goexit")},
      {entry("runtime.mallocgc"), entry("runtime.newobject"), entry("main.main"), entry("runtime.main")},
  };

  // (A single {{"samples", "count"}} would be ambiguous with the copy constructor.)
  PprofProfile p(std::vector<std::pair<std::string, std::string>>{{"samples", "count"}});
  for (const ElfSegment& seg : bin->elf().segments())
    if (seg.type == PT_LOAD && (seg.flags & PF_X))
      p.add_mapping(seg.vaddr, seg.vaddr + seg.memsz, seg.offset, bin->path(), bin->identity());
  p.set_symbolizer([&](uint64_t pc) { return ToPprof(bin->Symbolize(pc)); });
  for (const auto& pcs : stacks) p.add_sample(pcs, {1});
  TempDir dir;
  const std::string file = dir.path() + "/cpu.pb.gz";
  p.WriteFile(file);

  std::vector<Trace> traces = ParseTraces(Pprof("-traces " + ShellQuote(file)));
  ASSERT_EQ(traces.size(), stacks.size());
  for (size_t i = 0; i < stacks.size(); ++i) {
    std::vector<std::string> want;
    for (uint64_t pc : stacks[i])
      for (const Frame& f : bin->Symbolize(pc)) want.push_back(std::string(f.function) + (f.inlined ? " (inline)" : ""));
    EXPECT_EQ(traces[i].stack, want);
  }

  // File and line of every inlined frame, innermost first.
  RawProfile raw = ParseRaw(Pprof("-raw " + ShellQuote(file)));
  ASSERT_EQ(raw.samples.size(), stacks.size());
  std::vector<RawLine> want;
  for (const Frame& f : bin->Symbolize(inlined_pc))
    want.push_back({std::string(f.function), std::string(f.file) + ":" + std::to_string(f.line)});
  const RawLocation& loc = raw.locations.at(raw.samples[0].location_ids[0]);
  EXPECT_EQ(loc.address, inlined_pc);
  EXPECT_EQ(loc.mapping, "M=1");
  EXPECT_EQ(loc.lines, want);
}

}  // namespace
}  // namespace goscope
