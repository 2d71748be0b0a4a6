// The pprof writer against the real reader: profiles are written to disk and
// read back with `go tool pprof` (-raw, -traces, -top), whose parse is the test.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "error.h"
#include "go_binary.h"
#include "output/pprof_profile.h"
#include "pprof_reader.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::InstalledGoToolchains;
using testing::ParseRaw;
using testing::ParseTop;
using testing::ParseTraces;
using testing::Pprof;
using testing::RawLine;
using testing::RawLocation;
using testing::RawProfile;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;
using testing::Trace;
namespace fs = std::filesystem;

// ---- A synthetic profile -------------------------------------------------------

constexpr uint64_t kLeafPc = 0x401000, kMainPc = 0x402000, kRuntimeMainPc = 0x403000, kOtherPc = 0x404000,
                   kUnknownPc = 0x999000;

std::vector<Frame> FakeSymbolize(uint64_t pc) {
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

}  // namespace
}  // namespace goscope
