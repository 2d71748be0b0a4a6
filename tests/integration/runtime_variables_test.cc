// Runtime variables found by disassembly must be exactly where DWARF says they
// are, on every toolchain; on stripped binaries disassembly is all there is.
#include <gtest/gtest.h>

#include "dwarf_layout.h"
#include "runtime_variables.h"
#include "testbin.h"

namespace goscope {
namespace {

constexpr const char* kKeys[] = {"runtime.allgs", "runtime.allglen", "runtime.MemProfileRate",
                                 "runtime.waitReasonStrings", "runtime.waitReasonStrings#size", "runtime.work",
                                 "runtime.memstats",       "runtime.sched",  "runtime.gcController",
                                 "runtime.allp",           "runtime.mheap_", "runtime.semtable"};

TEST(RuntimeVariables, DisassemblyAgreesWithDwarf) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.variant != "plain" && b.variant != "pie" && b.variant != "cgo") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    RuntimeLayout dwarf = ReadDwarfLayout(b.path);
    RuntimeLayout disasm = FindVariablesByDisassembly(*bin, TableLayout(bin->go_version()));
    for (const char* key : kKeys) {
      ASSERT_TRUE(dwarf.get(key).known()) << key;
      ASSERT_TRUE(disasm.get(key).known()) << key << " not found by disassembly";
      EXPECT_EQ(disasm.get(key).value, dwarf.get(key).value) << key;
      EXPECT_EQ(disasm.get(key).source, Source::kDisassembly);
      checked++;
    }
  }
  EXPECT_GE(checked, std::size(kKeys) * 15);
}

TEST(RuntimeVariables, StrippedBinariesResolveEverythingTracersNeed) {
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.variant != "stripped" && b.variant != "cgo-stripped") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    auto bin = GoBinary::Open(b.path);
    ASSERT_FALSE(bin->has_dwarf());
    RuntimeLayout l = ResolveRuntimeLayout(*bin);
    for (const char* key : kKeys) {
      EXPECT_EQ(l.get(key).source, Source::kDisassembly) << key;
    }
    for (const char* key : {"runtime.g.goid", "runtime.g.atomicstatus", "runtime.g.sched.sp", "runtime.g.gopc"})
      EXPECT_EQ(l.get(key).source, Source::kTable) << key;
  }
}

TEST(RuntimeVariables, DwarfBeatsEveryOtherSource) {
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.variant != "plain") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    RuntimeLayout l = ResolveRuntimeLayout(*GoBinary::Open(b.path));
    EXPECT_EQ(l.get("runtime.allgs").source, Source::kDwarf);
    EXPECT_EQ(l.get("runtime.g.goid").source, Source::kDwarf);
  }
}

}  // namespace
}  // namespace goscope
