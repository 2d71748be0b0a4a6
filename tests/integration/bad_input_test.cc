// Untrusted input: every kind of wrong file gets an Error with a useful
// message from the library and one line plus a non-zero exit from the CLI.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <tuple>

#include <gtest/gtest.h>

#include "error.h"
#include "go_binary.h"
#include "temp_dir.h"
#include "testbin.h"

namespace goscope {
namespace {

using testing::RunCommand;
using testing::ShellQuote;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  // The CLI's answer: exit code and stderr, which must be exactly one line.
  static std::pair<int, std::string> Cli(const std::string& args) {
    int rc = 0;
    std::string err;
    RunCommand(std::string(GOSCOPE_BINARY) + " " + args, "", &rc, &err);
    return {rc, err};
  }
  std::string GoBinaryPath() {
    auto bins = testing::LoadTestBinaries();
    for (const auto& b : bins)
      if (b.variant == "plain") return b.path;
    return "";
  }
  testing::TempDir tmp_{"badinput"};
  std::string dir_ = tmp_.path();
};

void ExpectError(const std::string& path, const std::string& needle) {
  try {
    GoBinary::Open(path);
    ADD_FAILURE() << path << ": opened without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(BadInput, LibraryRefusesWithReason) {
  ExpectError(Write("text", "hello, world\n"), "not an ELF");
  ExpectError(Write("empty", ""), "not an ELF");
  ExpectError(dir_ + "/missing", "No such file");
  ExpectError(dir_, "not a regular file");
  ExpectError("/bin/true", "not a Go binary");
}

TEST_F(BadInput, TruncatedAndCorruptedGoBinariesNeverCrash) {
  std::string go = Slurp(GoBinaryPath());
  ASSERT_GT(go.size(), 100000u);
  // Truncations at many points: either a clean Error or a (partial) binary.
  for (size_t cut : {size_t{16}, size_t{64}, size_t{4096}, go.size() / 3, go.size() / 2, go.size() - 1}) {
    std::string p = Write("trunc", go.substr(0, cut));
    try {
      auto b = GoBinary::Open(p);
      for (const auto& f : b->pclntab().funcs()) b->Symbolize(f.entry);
    } catch (const Error&) {
    }
  }
  // Flipped bytes in the pclntab region and headers.
  std::mt19937 rng(7);
  for (int round = 0; round < 30; round++) {
    std::string bad = go;
    for (int i = 0; i < 200; i++) bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    std::string p = Write("flip", bad);
    try {
      auto b = GoBinary::Open(p);
      for (size_t i = 0; i < b->pclntab().funcs().size(); i += 7) b->Symbolize(b->pclntab().funcs()[i].entry + 3);
    } catch (const Error&) {
    }
  }
}

TEST_F(BadInput, CliPrintsOneLineAndFails) {
  std::string text = Write("text", "hello\n");
  for (const std::string& args : std::vector<std::string>{"symbolize " + ShellQuote(text) + " 0x1000", "info " + ShellQuote(text), "info /bin/true",
        "info -p 999999999", "info -p notanumber", "symbolize /bin/true 0x1", "info --bogus", "nosuchcommand"}) {
    auto [rc, err] = Cli(args);
    SCOPED_TRACE(args);
    EXPECT_NE(rc, 0);
    EXPECT_LT(rc, 128) << "killed by a signal";
    ASSERT_FALSE(err.empty());
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
  // A bad address on the command line is a usage error (2); read from --stdin, input the run refuses (1).
  auto [rc, err] = Cli("symbolize " + ShellQuote(GoBinaryPath()) + " 0xnothex");
  EXPECT_EQ(rc, 2);
  EXPECT_NE(err.find("not a hex address"), std::string::npos) << err;
  std::tie(rc, err) = Cli("symbolize --stdin " + ShellQuote(GoBinaryPath()) + " <" + ShellQuote(Write("addrs", "0xnothex\n")));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("not a hex address"), std::string::npos) << err;
}

}  // namespace
}  // namespace goscope
