// A small, strict command-line parser: every option is declared, so a typo is
// an error naming the option rather than a silently ignored word.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace goscope {

struct OptionSpec {
  std::string name;     // "--json"
  bool takes_value;     // "--duration 10" / "--duration=10"
  std::string help;
};

class CliArgs {
 public:
  // Throws Error("unknown option --x; see goscope CMD --help").
  CliArgs(const std::string& command, const std::vector<OptionSpec>& specs, int argc, char** argv);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // Integer option; throws Error naming the option when it is not a number.
  std::optional<long long> get_int(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  static std::string Usage(const std::vector<OptionSpec>& specs);

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace goscope
