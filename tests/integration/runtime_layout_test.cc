// The runtime layout: DWARF of real binaries from every installed toolchain
// must agree with the committed table (so a stripped binary gets the same
// offsets its unstripped twin would), variables must match the ELF symbol
// table, and bad input must degrade or throw Error, never crash.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <gtest/gtest.h>

#include "dwarf_layout.h"
#include "elf_file.h"
#include "error.h"
#include "runtime_layout.h"
#include "temp_dir.h"
#include "testbin.h"
#include "tool_required.h"

namespace goscope {
namespace {

using testing::InstalledGoToolchains;
using testing::LoadTestBinaries;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TestBinary;
using testing::TestBinaryLabel;

bool HasDwarf(const TestBinary& b) { return b.variant == "plain" || b.variant == "pie" || b.variant == "cgo"; }

using testing::TempDir;

const TestBinary* FirstWith(const std::vector<TestBinary>& bins, const std::string& variant,
                            const std::string& version = "") {
  for (const auto& b : bins) {
    if (b.variant == variant && (version.empty() || b.go_version == version)) return &b;
  }
  return nullptr;
}

TEST(RuntimeLayout, GoMinorVersionParses) {
  EXPECT_EQ(GoMinorVersion("go1.24.4"), 24);
  EXPECT_EQ(GoMinorVersion("go1.21"), 21);
  EXPECT_EQ(GoMinorVersion("go1.23rc1"), 23);
  EXPECT_EQ(GoMinorVersion("1.19"), 19);
  EXPECT_EQ(GoMinorVersion("go1.22.1 X:boringcrypto"), 22);
  EXPECT_EQ(GoMinorVersion("devel go1.25-abcdef"), -1);
  EXPECT_EQ(GoMinorVersion("go2.0"), -1);
  EXPECT_EQ(GoMinorVersion("go1."), -1);
  EXPECT_EQ(GoMinorVersion(""), -1);
}

TEST(RuntimeLayout, TableByMajorMinorOnly) {
  ASSERT_FALSE(TableMinorVersions().empty());
  int newest = TableMinorVersions().back();
  std::string v = "go1." + std::to_string(newest);
  RuntimeLayout a = TableLayout(v + ".0");
  RuntimeLayout b = TableLayout(v + "rc2");
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.values.size(), b.values.size());
  EXPECT_EQ(a.get("runtime.g.goid").value, b.get("runtime.g.goid").value);
  EXPECT_EQ(a.get("runtime.g.goid").source, Source::kTable);
  EXPECT_TRUE(TableLayout("go1.5").empty());
  EXPECT_TRUE(TableLayout("nonsense").empty());
}

TEST(RuntimeLayout, TableNeverHoldsAddresses) {
  for (int minor : TableMinorVersions()) {
    RuntimeLayout t = TableLayout("go1." + std::to_string(minor));
    for (const auto& [key, value] : t.values) EXPECT_TRUE(IsTableKey(key)) << "go1." << minor << " " << key;
    EXPECT_FALSE(t.has("runtime.allgs"));
    EXPECT_FALSE(t.has("runtime.waitReasonStrings"));
  }
}

TEST(RuntimeLayout, GetAndMergeMissing) {
  RuntimeLayout dwarf;
  dwarf.values["runtime.g.goid"] = {160, Source::kDwarf};
  RuntimeLayout table;
  table.values["runtime.g.goid"] = {152, Source::kTable};
  table.values["runtime.g.gopc"] = {288, Source::kTable};
  dwarf.merge_missing(table);
  EXPECT_EQ(dwarf.get("runtime.g.goid").value, 160u);
  EXPECT_EQ(dwarf.get("runtime.g.goid").source, Source::kDwarf);
  EXPECT_EQ(dwarf.get("runtime.g.gopc").source, Source::kTable);
  EXPECT_FALSE(dwarf.get("runtime.nothing").known());
  EXPECT_EQ(SourceName(Source::kTable), "table");
}

TEST(RuntimeLayout, CanonicalKeysAreUnique) {
  std::set<std::string> keys;
  for (const LayoutItem& item : CanonicalLayoutItems()) EXPECT_TRUE(keys.insert(item.key()).second) << item.key();
}

// Every installed toolchain must be in the table: a new toolchain means
// running scripts/gen-offset-table.sh and committing the result.
TEST(RuntimeLayout, TableCoversEveryInstalledToolchain) {
  const auto& tcs = InstalledGoToolchains();
  ASSERT_FALSE(tcs.empty()) << "no Go toolchain at /usr/lib/go-1.*/bin/go";
  for (const auto& tc : tcs) {
    EXPECT_FALSE(TableLayout(tc.version).empty())
        << tc.version << " is not in symbolizer/offset_table.inc; run scripts/gen-offset-table.sh";
  }
}

// The core property: DWARF of every test binary equals the table for its
// release, key for key, and holds every canonical item of that release.
TEST(RuntimeLayout, DwarfMatchesTableForEveryBinary) {
  ASSERT_FALSE(InstalledGoToolchains().empty()) << "no Go toolchain at /usr/lib/go-1.*/bin/go";
  auto bins = LoadTestBinaries();
  std::set<std::string> versions_checked;
  for (const auto& b : bins) {
    if (!HasDwarf(b)) continue;
    SCOPED_TRACE(TestBinaryLabel(b));
    RuntimeLayout dwarf = ReadDwarfLayout(b.path);
    RuntimeLayout table = TableLayout(b.go_version);
    ASSERT_FALSE(dwarf.empty());
    ASSERT_FALSE(table.empty()) << b.go_version << " missing from the table";
    int minor = GoMinorVersion(b.go_version);

    for (const LayoutItem& item : CanonicalLayoutItems()) {
      if (!item.in_release(minor)) continue;
      Sourced v = dwarf.get(item.key());
      EXPECT_TRUE(v.known()) << item.key() << " not found in DWARF";
      EXPECT_EQ(v.source, Source::kDwarf) << item.key();
    }
    for (const auto& [key, value] : dwarf.values) {
      if (!IsTableKey(key)) continue;
      Sourced t = table.get(key);
      EXPECT_TRUE(t.known()) << key << " found in DWARF but not in the table";
      if (t.known()) {
        EXPECT_EQ(value.value, t.value) << key;
      }
    }
    for (const auto& [key, value] : table.values) {
      EXPECT_TRUE(dwarf.has(key)) << key << " in the table but not in DWARF";
    }
    versions_checked.insert(b.go_version);
  }
  for (const auto& tc : InstalledGoToolchains()) {
    EXPECT_TRUE(versions_checked.contains(tc.version)) << "no test binary with DWARF for " << tc.version;
  }
}

// Facts that hold in every release: cheap consistency checks on the reader
// (nested paths add up, constants are read as values, not offsets).
TEST(RuntimeLayout, DwarfIsSelfConsistent) {
  auto bins = LoadTestBinaries();
  for (const auto& b : bins) {
    if (b.variant != "plain") continue;
    SCOPED_TRACE(TestBinaryLabel(b));
    RuntimeLayout l = ReadDwarfLayout(b.path);
    auto v = [&](const char* k) { return l.get(k).value; };
    EXPECT_EQ(v("runtime.g.stack.lo"), 0u);
    EXPECT_EQ(v("runtime.g.stack.hi"), 8u);
    EXPECT_EQ(v("runtime.g.sched.sp"), v("runtime.g.sched") + v("runtime.gobuf.sp"));
    EXPECT_EQ(v("runtime.g.sched.pc"), v("runtime.g.sched") + v("runtime.gobuf.pc"));
    EXPECT_EQ(v("runtime.g.sched.bp"), v("runtime.g.sched") + v("runtime.gobuf.bp"));
    EXPECT_EQ(v("runtime._Grunning"), 2u);
    EXPECT_EQ(v("runtime._Gscan"), 0x1000u);
    EXPECT_EQ(v("runtime.stack#size"), 16u);
    EXPECT_EQ(v("runtime.m.g0"), 0u);
    EXPECT_LT(v("runtime.g.goid"), v("runtime.g#size"));
    EXPECT_EQ(v("runtime.specialprofile.special"), 0u);
    EXPECT_GE(v("runtime.specialprofile.b"), v("runtime.special#size"));
    EXPECT_TRUE(l.has("runtime.waitReasonZero"));
    // waitReasonStrings is [N]string, one entry per waitReason constant.
    size_t reasons = 0;
    for (const auto& [key, value] : l.values) {
      if (key.starts_with("runtime.waitReason") && IsTableKey(key)) ++reasons;
    }
    EXPECT_EQ(v("runtime.waitReasonStrings#size"), reasons * 16);
  }
}

// Variable addresses are link-time addresses, exactly what .symtab says.
TEST(RuntimeLayout, VariablesMatchSymbolTable) {
  auto bins = LoadTestBinaries();
  int checked = 0;
  for (const auto& b : bins) {
    if (!HasDwarf(b)) continue;
    SCOPED_TRACE(TestBinaryLabel(b));
    RuntimeLayout l = ReadDwarfLayout(b.path);
    auto elf = ElfFile::Open(b.path);
    ASSERT_TRUE(elf->has_symtab());
    for (const LayoutItem& item : CanonicalLayoutItems()) {
      if (item.kind != LayoutKind::kVariable) continue;
      const ElfSymbol* sym = elf->symbol(item.name);
      ASSERT_NE(sym, nullptr) << item.name;
      EXPECT_EQ(l.get(item.key()).value, sym->value) << item.name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(RuntimeLayout, StrippedBinariesHaveNoDwarfLayout) {
  auto bins = LoadTestBinaries();
  int checked = 0;
  for (const auto& b : bins) {
    if (HasDwarf(b)) continue;
    SCOPED_TRACE(TestBinaryLabel(b));
    EXPECT_TRUE(ReadDwarfLayout(b.path).empty());
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// Go <= 1.11 wrote GNU-style .zdebug_* sections, later ones SHF_COMPRESSED,
// other tools may decompress: all three must read the same.
TEST(RuntimeLayout, CompressionFormsReadTheSame) {
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("objcopy", "binutils");
  auto bins = LoadTestBinaries();
  const TestBinary* b = FirstWith(bins, "plain");
  ASSERT_NE(b, nullptr);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  RuntimeLayout want = ReadDwarfLayout(b->path);
  for (const char* flags : {"--compress-debug-sections=zlib-gnu", "--decompress-debug-sections"}) {
    SCOPED_TRACE(flags);
    std::string out = dir.path() + "/copy";
    int rc = 0;
    RunCommand(std::string("objcopy ") + flags + " " + ShellQuote(b->path) + " " + ShellQuote(out), "", &rc);
    ASSERT_EQ(rc, 0);
    RuntimeLayout got = ReadDwarfLayout(out);
    ASSERT_EQ(got.values.size(), want.values.size());
    for (const auto& [key, value] : want.values) EXPECT_EQ(got.get(key).value, value.value) << key;
  }
}

TEST(RuntimeLayout, BadInputThrowsOrDegrades) {
  EXPECT_THROW(ReadDwarfLayout("/nonexistent/goscope-binary"), Error);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string text = dir.path() + "/text";
  std::ofstream(text) << "not an ELF file\n";
  EXPECT_THROW(ReadDwarfLayout(text), Error);

  // Scribble over an uncompressed .debug_info: any result or Error, no crash.
  GOSCOPE_REQUIRE_TOOL_OR_SKIP("objcopy", "binutils");
  auto bins = LoadTestBinaries();
  const TestBinary* b = FirstWith(bins, "plain");
  ASSERT_NE(b, nullptr);
  std::string plain = dir.path() + "/plain";
  int rc = 0;
  RunCommand("objcopy --decompress-debug-sections " + ShellQuote(b->path) + " " + ShellQuote(plain), "", &rc);
  ASSERT_EQ(rc, 0);
  auto elf = ElfFile::Open(plain);
  const ElfSection* info = elf->section(".debug_info");
  ASSERT_NE(info, nullptr);
  uint64_t off = info->offset, size = info->size;
  elf.reset();
  std::ifstream in(plain, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  // Round 0 breaks the first unit header; 1-7 put 64 garbage bytes at
  // spread-out places in the unit bodies; 8 sprinkles 1% of all bytes.
  for (int round = 0; round < 9; ++round) {
    std::string copy = bytes;
    uint32_t seed = 12345 + round;
    auto scribble = [&](uint64_t i) {
      seed = seed * 1103515245 + 12345;
      copy[off + i] = static_cast<char>(seed >> 16);
    };
    if (round == 0) {
      for (uint64_t i = 4; i < 6; ++i) scribble(i);
    } else if (round < 8) {
      for (uint64_t i = size * round / 8; i < std::min(size, size * round / 8 + 64); ++i) scribble(i);
    } else {
      for (uint64_t i = 11; i < size; i += 97) scribble(i);
    }
    std::string path = dir.path() + "/bad" + std::to_string(round);
    std::ofstream(path, std::ios::binary) << copy;
    try {
      ReadDwarfLayout(path);  // rounds 1-7 keep part of the layout here
    } catch (const Error&) {
      // rounds 0 and 8: no unit header survives
    }
  }
}

// Go binaries grow to hundreds of MB; only the runtime units are walked, so
// the time should not grow with the program. Generous bound for slow CI.
TEST(RuntimeLayout, DwarfReadIsFast) {
  auto bins = LoadTestBinaries();
  for (const auto& b : bins) {
    if (!HasDwarf(b)) continue;
    auto start = std::chrono::steady_clock::now();
    ReadDwarfLayout(b.path);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(ms, 1000.0) << TestBinaryLabel(b);
  }
}

}  // namespace
}  // namespace goscope
