// goscope symbolize PATH ADDR...: addr2line for Go binaries, from the pclntab.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "error.h"
#include "go_binary.h"

namespace goscope {
namespace {

struct SymbolizeArgs {
  std::string path;
  std::vector<std::string> addresses;
  bool json = false;
  bool from_stdin = false;
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

int RunSymbolize(const SymbolizeArgs& args) {
  if (args.addresses.empty() && !args.from_stdin) throw UsageError("no addresses given");
  auto bin = GoBinary::Open(args.path);
  std::vector<uint64_t> addrs;
  for (const auto& a : args.addresses) addrs.push_back(ParseAddress(a));
  if (args.from_stdin) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) addrs.push_back(ParseAddress(line));
    }
  }
  if (addrs.empty()) throw Error("no addresses given");
  bool json = args.json;
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t a : addrs) {
    auto frames = bin->Symbolize(a);
    if (json) out.push_back(ToJson(a, frames));
    else PrintText(a, frames);
  }
  if (json) fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace

Command AddSymbolizeCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(
      goscope, "symbolize", "addresses to function, file and line (an addr2line for Go, stripped binaries too)",
      "Prints, for each hex virtual address (as in the binary, before any load bias),\n"
      "its frames innermost first: inlined calls, then the function that contains it.\n"
      "For a return address pass address-1. Works on stripped binaries.\n");
  auto args = std::make_shared<SymbolizeArgs>();
  cmd->add_option("PATH", args->path, "the Go executable")->required();
  cmd->add_option("ADDR", args->addresses, "hex addresses (0x optional)")
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              ParseAddress(s);
            } catch (const Error& e) {
              return std::string(e.what());
            }
            return std::string();
          },
          ""));
  AddJsonFlag(*cmd, args->json, "print JSON: [{address, frames: [{function, file, line, inlined}]}]");
  cmd->add_flag("--stdin", args->from_stdin, "read addresses from standard input, one per line, after those given");
  return {cmd, [args] { return RunSymbolize(*args); }};
}

}  // namespace goscope
