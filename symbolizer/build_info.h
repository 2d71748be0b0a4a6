// Go version and module/build settings from the .go.buildinfo blob
// (what `go version -m` prints), found by section or by scanning the
// writable segment of a binary whose section headers are gone.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "elf_file.h"

namespace goscope {

struct BuildInfo {
  std::string go_version;  // "go1.22.12"
  std::string path;        // main package path ("path" line), may be empty
  std::string main_module; // "mod" line, may be empty
  std::vector<std::pair<std::string, std::string>> settings;  // "build" key=value lines
  std::string modinfo;     // the raw text, as `go version -m` shows it
};

// nullopt when the file holds no Go build info (not a Go binary, or Go < 1.13).
std::optional<BuildInfo> ReadBuildInfo(const ElfFile& elf);

// Parses "go1.22.12", "go1.21rc2", "devel go1.24-abc..." into (major, minor); nullopt if not Go.
std::optional<std::pair<int, int>> ParseGoVersion(std::string_view v);

}  // namespace goscope
