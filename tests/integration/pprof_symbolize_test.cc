// The pprof writer on a real Go binary's stacks, symbolized by GoBinary and
// read back with `go tool pprof`: the same frames, inlining and lines.
#include <elf.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "go_binary.h"
#include "output/pprof_profile.h"
#include "pprof_reader.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::LoadTestBinaries;
using testing::ParseGoVersion;
using testing::ParseRaw;
using testing::ParseTraces;
using testing::Pprof;
using testing::RawLine;
using testing::RawLocation;
using testing::RawProfile;
using testing::ShellQuote;
using testing::TempDir;
using testing::TestBinary;
using testing::Trace;

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
  p.set_symbolizer([&](uint64_t pc) { return bin->Symbolize(pc); });
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
