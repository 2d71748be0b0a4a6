// Output files appear whole or not at all: written in pieces, a file is at
// its path only after Commit; abandoned (an error on the way), it leaves no
// file and no temporary behind.
#include "output/atomic_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "error.h"
#include "temp_dir.h"

namespace goscope {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AtomicFile, PiecesAppearTogetherOnlyAtCommit) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/out.txt";
  AtomicFileWriter file(path);
  std::string want;
  for (int i = 0; i < 20000; i++) {  // past the writer's buffer several times
    std::string piece = "goroutine " + std::to_string(i) + " [chan receive]:\n";
    file.Write(piece);
    want += piece;
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "visible before Commit";
  file.Commit();
  EXPECT_EQ(Read(path), want);
  EXPECT_EQ(dir.List(), std::vector<std::string>{"out.txt"});
  EXPECT_THROW(file.Write("more"), Error);
}

TEST(AtomicFile, AbandonedLeavesNothing) {
  testing::TempDir dir;
  {
    AtomicFileWriter file(dir.path() + "/out.txt");
    file.Write(std::string(200000, 'x'));
  }
  EXPECT_TRUE(dir.List().empty());
}

TEST(AtomicFile, UncreatableIsAClearError) {
  try {
    AtomicFileWriter file("/proc/goscope-no/out.txt");
    ADD_FAILURE() << "created a file under /proc";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("writing /proc/goscope-no/out.txt: cannot create"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace goscope
