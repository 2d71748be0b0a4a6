// The Go binary reader against real binaries from every installed toolchain,
// with real oracles: `go version -m`, the ELF symbol table of the unstripped
// twin, and binutils addr2line reading the compiler's DWARF inline records.
#include <random>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "go_binary.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::LoadTestBinaries;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TestBinary;
using testing::TestBinaryLabel;

const TestBinary* Twin(const std::vector<TestBinary>& all, const TestBinary& b, const std::string& variant) {
  for (const auto& o : all)
    if (o.name == b.name && o.go_version == b.go_version && o.variant == variant) return &o;
  return nullptr;
}

TEST(GoBinary, VersionAndBuildInfoMatchGoVersionM) {
  auto bins = LoadTestBinaries();
  for (const auto& b : bins) {
    SCOPED_TRACE(TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    ASSERT_TRUE(bin->build_info().has_value());
    int rc = 0;
    std::string m = RunCommand(ShellQuote(b.goroot + "/bin/go") + " version -m " + ShellQuote(b.path), "", &rc);
    ASSERT_EQ(rc, 0);
    // "PATH: go1.26.11-X:goroutineleakprofile" (the experiments it was built with follow the release)
    const std::string first = m.substr(0, m.find('\n'));
    EXPECT_EQ(bin->go_version(), first.substr(first.rfind(": ") + 2)) << first;
    EXPECT_TRUE(bin->go_version().starts_with(b.go_version)) << b.go_version;
    EXPECT_NE(m.find("\tpath\t" + bin->build_info()->path + "\n"), std::string::npos) << m;
    EXPECT_FALSE(bin->build_info()->path.empty());
  }
}

// Stripped binaries have no symbols; the reader must still find each probed
// function at the address the unstripped twin's symbol table gives, skipping
// the assembly wrappers that share its name in the pclntab.
TEST(GoBinary, FunctionsMatchSymbolTableOfUnstrippedTwin) {
  auto bins = LoadTestBinaries();
  const char* names[] = {"runtime.mallocgc", "runtime.newproc1", "runtime.goexit1",   "runtime.mProf_Malloc",
                         "runtime.gcStart",  "runtime.main",     "runtime.newproc",   "main.main",
                         "runtime.schedule", "runtime.gopark",   "runtime.freeSpecial"};
  int checked = 0;
  for (const auto& b : bins) {
    if (b.variant != "stripped" && b.variant != "cgo-stripped") continue;
    const TestBinary* twin = Twin(bins, b, b.variant == "stripped" ? "plain" : "cgo");
    ASSERT_NE(twin, nullptr);
    SCOPED_TRACE(TestBinaryLabel(b));
    auto stripped = GoBinary::Open(b.path);
    auto plain = GoBinary::Open(twin->path);
    EXPECT_FALSE(stripped->has_symtab());
    ASSERT_TRUE(plain->has_symtab());
    for (const char* n : names) {
      const ElfSymbol* sym = plain->elf().symbol(n);
      ASSERT_NE(sym, nullptr) << n;
      const Func* f = stripped->pclntab().LookupFunction(n);
      ASSERT_NE(f, nullptr) << n;
      EXPECT_EQ(f->entry, sym->value) << n;
      EXPECT_LE(sym->size, f->end - f->entry) << n;  // the pclntab range includes padding
      checked++;
    }
  }
  EXPECT_GE(checked, 50);
}

// binutils repeats a frame when a DWARF inlined-subroutine record sits at the
// same position as its parent's; one frame is what happened.
std::vector<std::pair<std::string, std::string>> NormalizeDwarfFrames(std::vector<std::pair<std::string, std::string>> f) {
  f.erase(std::unique(f.begin(), f.end()), f.end());
  return f;
}

bool HasRepeat(const std::vector<std::pair<std::string, std::string>>& f) {
  for (size_t i = 0; i < f.size(); i++)
    for (size_t j = i + 1; j < f.size(); j++)
      if (f[i] == f[j]) return true;
  return false;
}

bool SelfInlined(const std::vector<Frame>& f) {
  for (size_t i = 1; i < f.size(); i++)
    if (f[i].function == f[i - 1].function) return true;
  return false;
}

// The pclntab names generic instantiations "F[...]"; DWARF spells out the shape.
bool SameFunction(std::string_view pclntab, std::string_view dwarf) {
  if (pclntab == dwarf) return true;
  auto open = pclntab.find("[...]");
  return open != std::string_view::npos && dwarf.substr(0, open + 1) == pclntab.substr(0, open + 1);
}

// Inline trees are found through moduledata.gofunc; on unstripped binaries the
// go:func.* symbol says where that is.
TEST(GoBinary, ModuledataFoundWithAndWithoutSymbols) {
  for (const auto& b : LoadTestBinaries()) {
    SCOPED_TRACE(TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    ASSERT_TRUE(bin->moduledata().has_value());
    EXPECT_NE(bin->moduledata()->gofunc, 0u);
    const ElfSymbol* gofunc = bin->elf().symbol("go:func.*");
    if (!gofunc) gofunc = bin->elf().symbol("go.func.*");
    if (bin->has_symtab()) {
      ASSERT_NE(gofunc, nullptr);
      EXPECT_EQ(bin->moduledata()->gofunc, gofunc->value);
      EXPECT_EQ(bin->moduledata()->address.source, Source::kSymtab);
    } else {
      EXPECT_EQ(bin->moduledata()->address.source, Source::kPclntab);
    }
  }
}

// Every inlined frame, not just the ends: binutils addr2line -i (LLVM's for
// DWARF 5) reads the compiler's DWARF inline records, an independent source
// from the pclntab.
// (binutils names the innermost frame after the outermost function; we compare
// its file:line, and the names of all other frames.)
TEST(GoBinary, InlinedFramesMatchDwarf) {
  for (const auto& b : LoadTestBinaries()) {
    if (b.variant != "plain" || b.name != "symtest") continue;
    SCOPED_TRACE(TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    std::mt19937_64 rng(42);
    std::vector<uint64_t> pcs;
    const auto& funcs = bin->pclntab().funcs();
    while (pcs.size() < 3000) {
      const Func& f = funcs[rng() % funcs.size()];
      if (f.end > f.entry) pcs.push_back(f.entry + rng() % (f.end - f.entry));
    }
    std::string args;
    for (uint64_t pc : pcs) args += fmt::format(" {:x}", pc);
    int rc = 0;
    // Go 1.25+ write DWARF 5, which bookworm's binutils cannot read ("go.go:?"
    // throughout); LLVM's addr2line reads it and prints the same format.
    const char* tool = testing::ParseGoVersion(b.go_version).minor >= 25 ? "llvm-addr2line" : "addr2line";
    std::string out = RunCommand(std::string(tool) + " -a -i -f -e " + ShellQuote(b.path) + args, "", &rc);
    ASSERT_EQ(rc, 0) << tool;
    std::map<uint64_t, std::vector<std::pair<std::string, std::string>>> dwarf;
    std::istringstream in(out);
    std::string line, fn;
    uint64_t cur = 0;
    while (std::getline(in, line)) {
      if (line.rfind("0x", 0) == 0) {
        cur = std::stoull(line, nullptr, 16);
        continue;
      }
      std::string loc;
      std::getline(in, loc);
      loc = loc.substr(0, loc.find(" ("));
      if (loc.rfind("./", 0) == 0) loc = loc.substr(2);  // "./<autogenerated>:1"
      dwarf[cur].push_back({line, loc});
    }
    int deep = 0, compared = 0, mismatches = 0;
    for (uint64_t pc : pcs) {
      auto ours = bin->Symbolize(pc);
      auto theirs = NormalizeDwarfFrames(dwarf[pc]);
      // Padding after a function's last instruction has no position in either table.
      if (ours.size() == 1 && ours[0].line <= 0) continue;
      // Compiler-generated code (<autogenerated> wrappers, assembly) has DWARF
      // that records no inlining; there is nothing to compare against.
      if (ours.back().file == "<autogenerated>" || ours.back().file.ends_with(".s")) continue;
      // Two more cases the oracle cannot judge: binutils lists overlapping DWARF
      // inline ranges twice (a frame pair recurring in its list), and DWARF records
      // nothing for a function inlined into itself (runtime._ExternalCode in 1.24).
      if (HasRepeat(theirs) || SelfInlined(ours)) continue;
      compared++;
      bool same = ours.size() == theirs.size();
      for (size_t i = 0; same && i < ours.size(); i++) {
        // The innermost line is checked against go tool addr2line elsewhere; the
        // 1.19 compiler's DWARF line program occasionally disagrees with the
        // pclntab the runtime uses there, so only its file is compared here.
        std::string loc = i == 0 ? std::string(ours[i].file) : fmt::format("{}:{}", ours[i].file, ours[i].line);
        std::string want = i == 0 ? theirs[i].second.substr(0, theirs[i].second.rfind(':')) : theirs[i].second;
        same = loc == want && (i == 0 || SameFunction(ours[i].function, theirs[i].first));
      }
      deep += ours.size() > 1;
      if (!same && ++mismatches <= 5) {
        std::string a, b;
        for (const auto& f : ours) a += fmt::format(" [{} {}:{}]", f.function, f.file, f.line);
        for (const auto& [fn, loc] : theirs) b += fmt::format(" [{} {}]", fn, loc);
        ADD_FAILURE() << fmt::format("pc {:#x}\n  pclntab:{}\n  DWARF:  {}", pc, a, b);
      }
    }
    EXPECT_GE(compared, 2000);
    EXPECT_EQ(mismatches, 0);
    EXPECT_GE(deep, 200) << "too few inlined PCs sampled for the test to mean anything";
  }
}

}  // namespace
}  // namespace goscope
