// goscope symbolize PATH ADDR...: addr2line for Go binaries, from the pclntab.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "error.h"
#include "go_binary.h"

namespace goscope {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--json", false, "print JSON: [{address, frames: [{function, file, line, inlined}]}]"},
    {"--stdin", false, "read addresses from standard input, one per line, after those given"},
    {"--help", false, "show this help"},
};

uint64_t ParseAddress(const std::string& s) {
  size_t used = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(s, &used, 16);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || s.empty()) throw Error(fmt::format("'{}' is not a hex address", s));
  return v;
}

void PrintText(uint64_t addr, const std::vector<Frame>& frames) {
  if (frames.empty()) {
    fmt::print("{:#x} ?\n", addr);
    return;
  }
  for (size_t i = 0; i < frames.size(); i++) {
    const Frame& f = frames[i];
    fmt::print("{}{} {}:{}{}\n", i == 0 ? fmt::format("{:#x} ", addr) : std::string(2, ' '), f.function,
               f.file.empty() ? "?" : f.file, f.line, f.inlined ? " (inlined)" : "");
  }
}

nlohmann::json ToJson(uint64_t addr, const std::vector<Frame>& frames) {
  nlohmann::json fr = nlohmann::json::array();
  for (const Frame& f : frames)
    fr.push_back({{"function", f.function}, {"file", f.file}, {"line", f.line}, {"inlined", f.inlined}});
  return {{"address", fmt::format("{:#x}", addr)}, {"frames", fr}};
}

}  // namespace

int RunSymbolize(int argc, char** argv) {
  CliArgs args("symbolize", kOptions, argc, argv);
  if (args.has("--help")) {
    fmt::print("usage: goscope symbolize PATH ADDR... [--json] [--stdin]\n\n"
               "Prints, for each hex virtual address (as in the binary, before any load bias),\n"
               "its frames innermost first: inlined calls, then the function that contains it.\n"
               "For a return address pass address-1. Works on stripped binaries.\n\n{}",
               CliArgs::Usage(kOptions));
    return 0;
  }
  if (args.positional().empty()) throw Error("missing PATH; usage: goscope symbolize PATH ADDR...");
  auto bin = GoBinary::Open(args.positional()[0]);
  std::vector<uint64_t> addrs;
  for (size_t i = 1; i < args.positional().size(); i++) addrs.push_back(ParseAddress(args.positional()[i]));
  if (args.has("--stdin")) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) addrs.push_back(ParseAddress(line));
    }
  }
  if (addrs.empty()) throw Error("no addresses given");
  bool json = args.has("--json");
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t a : addrs) {
    auto frames = bin->Symbolize(a);
    if (json) out.push_back(ToJson(a, frames));
    else PrintText(a, frames);
  }
  if (json) fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace goscope
