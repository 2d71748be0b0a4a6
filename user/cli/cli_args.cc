#include "cli/cli_args.h"

#include <fmt/format.h>

#include "error.h"

namespace goscope {

CliArgs::CliArgs(const std::string& command, const std::vector<OptionSpec>& specs, int argc, char** argv)
    : command_(command) {
  bool only_positional = false;
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) throw Error(fmt::format("goscope {}: unknown option {}; see goscope {} --help", command, name, command));
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) throw Error(fmt::format("goscope {}: option {} needs a value", command, name));
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      throw Error(fmt::format("goscope {}: option {} takes no value", command, name));
    }
    values_[name] = value;
  }
}

std::optional<std::string> CliArgs::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string CliArgs::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::optional<long long> CliArgs::get_int(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  try {
    size_t used = 0;
    long long n = std::stoll(*v, &used, 0);
    if (used == v->size()) return n;
  } catch (const std::exception&) {
  }
  throw Error(fmt::format("goscope {}: {} expects a number, got '{}'", command_, name, *v));
}

std::string CliArgs::Usage(const std::vector<OptionSpec>& specs) {
  std::string out;
  for (const auto& s : specs)
    out += fmt::format("  {:<22} {}\n", s.name + (s.takes_value ? " X" : ""), s.help);
  return out;
}

}  // namespace goscope
