// goscope info: what the reader found in a binary, and whether it can be traced.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_args.h"
#include "commands.h"
#include "error.h"
#include "go_binary.h"

namespace goscope {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"-p", true, "a running process (reads /proc/PID/exe)"},
    {"--json", false, "print JSON"},
    {"--help", false, "show this help"},
};

}  // namespace

int RunInfo(int argc, char** argv) {
  CliArgs args("info", kOptions, argc, argv);
  if (args.has("--help")) {
    fmt::print("usage: goscope info (-p PID | PATH) [--json]\n\n{}", CliArgs::Usage(kOptions));
    return 0;
  }
  std::string path;
  if (auto pid = args.get_int("-p")) path = fmt::format("/proc/{}/exe", *pid);
  else if (!args.positional().empty()) path = args.positional()[0];
  else throw Error("give a PATH or -p PID");
  auto bin = GoBinary::Open(path);
  nlohmann::json j = {{"path", path}, {"go_version", bin->go_version()}, {"functions", bin->pclntab().funcs().size()}};
  fmt::print("{}\n", j.dump(2));
  return 0;
}

}  // namespace goscope
