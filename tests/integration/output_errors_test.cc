// Outputs are written whole or not at all: on a full file system goscope says
// so, leaves no temporary or truncated file behind, and the traced program
// does not notice; an unwritable directory is refused before anything starts.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf_required.h"
#include "heap_test_util.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

// A 256 KiB tmpfs, filled to all but a few KiB.
// Every file left is whole: no temporary names, JSON parses, gzip tests clean.
void ExpectOnlyWholeFiles(const std::string& dir) {
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = f.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << "temporary file left: " << name;
    if (name.ends_with(".json")) {
      std::ifstream in(f.path());
      EXPECT_FALSE(nlohmann::json::parse(in, nullptr, false).is_discarded()) << name << " is truncated";
    }
    if (name.ends_with(".gz")) {
      int rc = -1;
      RunCommand("gzip -t " + ShellQuote(f.path().string()), "", &rc);
      EXPECT_EQ(rc, 0) << name << " is truncated";
    }
  }
}

const testing::TestBinary* InitTest() {
  static const auto bins = testing::LoadTestBinaries();
  for (const auto& b : bins)
    if (b.name == "inittest" && b.variant == "plain" && b.go_version.starts_with("go1.24")) return &b;
  return nullptr;
}

TEST(OutputErrors, FullDiskIsAClearErrorAndLeavesNothingHalfWritten) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto* prog = InitTest();
  ASSERT_NE(prog, nullptr);
  testing::SmallFilesystem fs;
  if (!fs.ok()) GTEST_SKIP() << "cannot mount a tmpfs here";
  fs.Fill();
  int rc = -1, plain_rc = -1;
  std::string err;
  std::string plain = RunCommand(ShellQuote(prog->path) + " exit 3", "", &plain_rc);
  std::string out = RunCommand(ShellQuote(GOSCOPE_BINARY) + " run -q -o " + ShellQuote(fs.path("out")) + " -- " +
                                   ShellQuote(prog->path) + " exit 3",
                               "", &rc, &err);
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_EQ(out, plain) << "the program's output changed";
  EXPECT_EQ(rc, plain_rc) << "goscope run must exit as the program did\n" << err;
  ExpectOnlyWholeFiles(fs.path("out"));
}

TEST(OutputErrors, UnwritableDirectoryIsRefusedBeforeAttaching) {
  GOSCOPE_REQUIRE_BPF_OR_SKIP();
  const auto* prog = InitTest();
  ASSERT_NE(prog, nullptr);
  int rc = -1;
  std::string err;
  std::string out = RunCommand(ShellQuote(GOSCOPE_BINARY) + " run -o /proc/goscope-out -- " + ShellQuote(prog->path),
                               "", &rc, &err);
  EXPECT_NE(rc, 0);
  EXPECT_NE(err.find("output directory /proc/goscope-out"), std::string::npos) << err;
  EXPECT_EQ(out, "") << "the program must not have run";
}

}  // namespace
}  // namespace goscope
