// The DWARF type reader on real binaries: retainprog's globals and the fields
// of its types, as every toolchain describes them; nothing for stripped ones.
#include <gtest/gtest.h>

#include "dwarf_types.h"
#include "elf_file.h"
#include "testbin.h"

namespace goscope {
namespace {

TEST(DwarfTypes, GlobalsAndTheFieldsTheirPointersLeadThrough) {
  int checked = 0;
  for (const auto& b : testing::LoadTestBinaries()) {
    if (b.name != "retainprog") continue;
    SCOPED_TRACE(testing::TestBinaryLabel(b));
    std::unique_ptr<DwarfTypes> types = DwarfTypes::Read(b.path);
    if (b.variant == "stripped") {
      EXPECT_EQ(types, nullptr) << "no DWARF, no types";
      continue;
    }
    ASSERT_NE(types, nullptr);
    auto elf = ElfFile::Open(b.path);
    const ElfSymbol* holder = elf->symbol("main.holder");
    ASSERT_NE(holder, nullptr);

    // main.holder is a *Outer: the word is the pointer itself.
    const DwarfTypes::Global* g = types->GlobalAt(holder->value + 4);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->name, "main.holder");
    EXPECT_EQ(g->addr, holder->value);
    auto outer = types->PointerAt(g->type, 0);
    ASSERT_TRUE(outer);
    EXPECT_EQ(outer->path, "");
    EXPECT_EQ(types->Name(outer->pointee), "main.Outer");
    // Outer{name string; inner *Inner}: the string's data is not a field of
    // note, inner is; past the end there is nothing.
    auto name = types->PointerAt(outer->pointee, 0);
    ASSERT_TRUE(name);
    EXPECT_EQ(name->path, ".name");
    EXPECT_FALSE(types->PointerAt(outer->pointee, 8)) << "a string's length is not a pointer";
    auto inner = types->PointerAt(outer->pointee, 16);
    ASSERT_TRUE(inner);
    EXPECT_EQ(inner->path, ".inner");
    EXPECT_EQ(types->Name(inner->pointee), "main.Inner");
    // Inner{data []byte; refs [70]*Inner}: a slice's array, an array's element.
    auto data = types->PointerAt(inner->pointee, 0);
    ASSERT_TRUE(data);
    EXPECT_EQ(data->path, ".data");
    EXPECT_EQ(types->Name(data->pointee), "uint8");
    auto ref = types->PointerAt(inner->pointee, 24 + 8 * 69);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->path, ".refs[]");
    EXPECT_EQ(ref->pointee, inner->pointee);
    EXPECT_FALSE(types->PointerAt(inner->pointee, 24 + 8 * 70)) << "past the end";
    // By the name the runtime gives the type.
    EXPECT_NE(types->Named("main.Record"), DwarfTypes::kNone);
    EXPECT_EQ(types->Size(types->Named("main.Record")), 8u + 24u + 80u * 8u);
    EXPECT_EQ(types->Named("main.NoSuchType"), DwarfTypes::kNone);
    checked++;
  }
  EXPECT_EQ(checked, 8) << "retainprog with DWARF from every toolchain";
}

}  // namespace
}  // namespace goscope
