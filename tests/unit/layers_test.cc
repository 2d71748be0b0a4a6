// The dependency rule of docs/ARCHITECTURE.md, checked on the sources: each
// folder of user/ includes only the folders below it, the symbolizer nothing
// of user/ or BPF, and the BPF programs nothing of user space. A wrong-way
// include fails here even where it would still link.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

const fs::path kSource = GOSCOPE_SOURCE_DIR;

// Each stage and the stages it may include (besides itself and the symbolizer).
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"model", {}},
    {"process", {"model"}},
    {"probes", {"process", "model"}},
    {"output", {"model"}},
    {"session", {"probes", "process", "model", "output"}},
    {"agent", {"session", "probes", "process", "model", "output"}},
    {"cli", {"agent", "session", "probes", "process", "model", "output"}},
};

std::vector<std::string> QuotedIncludes(const fs::path& file) {
  static const std::regex kInclude(R"re(^\s*#\s*include\s+"([^"]+)")re");
  std::vector<std::string> out;
  std::ifstream in(file);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, kInclude)) out.push_back(m[1]);
  return out;
}

std::vector<fs::path> Sources(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".h" || ext == ".cc" || ext == ".c")) out.push_back(e.path());
  }
  return out;
}

TEST(Layers, UserStagesIncludeOnlyTheStagesBelowThem) {
  size_t files = 0;
  for (const auto& [stage, allowed] : kMayInclude) {
    ASSERT_TRUE(fs::is_directory(kSource / "user" / stage)) << stage;
    for (const fs::path& f : Sources(kSource / "user" / stage)) {
      files++;
      for (const std::string& inc : QuotedIncludes(f)) {
        const size_t slash = inc.find('/');
        if (slash == std::string::npos) continue;  // the symbolizer's or BPF's headers
        const std::string to = inc.substr(0, slash);
        if (to == stage || !kMayInclude.count(to)) continue;
        EXPECT_TRUE(allowed.count(to)) << fs::relative(f, kSource).string() << " includes " << inc << ": " << stage
                                       << "/ may not depend on " << to << "/";
      }
    }
  }
  EXPECT_GT(files, 40u);
  // No source file lives outside the stages.
  for (const auto& e : fs::directory_iterator(kSource / "user"))
    EXPECT_FALSE(e.is_regular_file() && e.path().extension() == ".cc") << e.path() << " belongs in a stage folder";
}

TEST(Layers, SymbolizerKnowsNothingOfUserSpaceOrBpf) {
  const std::set<std::string> bpf_headers = {"gc_events.h", "goroutine_events.h", "heap_events.h", "proc_events.h",
                                             "probe_check.h"};
  for (const fs::path& f : Sources(kSource / "symbolizer")) {
    for (const std::string& inc : QuotedIncludes(f)) {
      EXPECT_EQ(inc.find('/'), std::string::npos) << f << " includes " << inc;
      EXPECT_FALSE(bpf_headers.count(inc) || inc.ends_with(".skel.h")) << f << " includes BPF's " << inc;
    }
  }
}

TEST(Layers, BpfProgramsIncludeOnlyBpfHeaders) {
  for (const fs::path& f : Sources(kSource / "bpf"))
    for (const std::string& inc : QuotedIncludes(f))
      EXPECT_TRUE(fs::exists(kSource / "bpf" / inc) || fs::exists(kSource / "vmlinux" / inc))
          << f << " includes " << inc << ", which is not BPF's";
}

}  // namespace
