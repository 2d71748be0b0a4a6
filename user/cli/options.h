// What the goscope commands share on the command line (CLI11): the options
// several commands take, declared once with their help text; value checks whose
// messages read "OPTION must ..."; the help layout; and the one-line report of
// a usage error, which exits 2 in every command.
#pragma once
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace goscope {

// A command line that cannot run as given (a wrong combination, a missing
// operand): exit 2 with the message and a pointer to --help. Not an Error, which
// exits 1: nothing was tried.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

// A subcommand as main() runs it: its CLI11 declaration, and what runs it once
// the whole command line has parsed (returns the exit status).
struct Command {
  CLI::App* cli;
  std::function<int()> run;
};

// The goscope app: help layout, strict flags, last value of a repeated option
// wins. Subcommands added afterwards inherit all of it.
void ConfigureGoscopeApp(CLI::App& goscope);
// A subcommand with its one-line summary (the command list) and the prose its
// --help prints before the options.
CLI::App* AddCommand(CLI::App& goscope, const std::string& name, const std::string& summary,
                     const std::string& details);

// Prints "goscope CMD: PROBLEM; see goscope CMD --help" to stderr; returns 2.
int ReportUsageError(const CLI::App& goscope, const CLI::ParseError& e);
int ReportUsageError(const std::string& command, const std::string& problem);

// Value checks. Numbers are read as strtoll reads them (10, 0x10, 010).
CLI::Validator Number();
CLI::Validator NumberInRange(long long min, long long max, const std::string& must);  // "must be positive"
CLI::Validator OneOf(std::vector<std::string> choices);

// Options several commands take.
CLI::Option* AddPidOption(CLI::App& cmd, std::optional<long long>& pid, const std::string& help);
// --duration S: whole seconds; 0 (the default) is no limit.
CLI::Option* AddDurationOption(CLI::App& cmd, long long& seconds, const std::string& help);
CLI::Option* AddOutputOption(CLI::App& cmd, std::optional<std::string>& path, const std::string& type,
                             const std::string& help);
CLI::Option* AddJsonFlag(CLI::App& cmd, bool& json, const std::string& help);
// -q
CLI::Option* AddQuietFlag(CLI::App& cmd, bool& quiet, const std::string& help);
// --no-write
CLI::Option* AddNoWriteFlag(CLI::App& cmd, bool& no_write, const std::string& help);
// A whole-number option; the default, if any, is the value it holds now.
CLI::Option* AddNumberOption(CLI::App& cmd, const std::string& name, long long& value, const std::string& type,
                             const std::string& help);
CLI::Option* AddNumberOption(CLI::App& cmd, const std::string& name, std::optional<long long>& value,
                             const std::string& type, const std::string& help);
// A word from a fixed set; the default is the value it holds now.
CLI::Option* AddChoiceOption(CLI::App& cmd, const std::string& name, std::string& value,
                             const std::vector<std::string>& choices, const std::string& help);

// argv with "-p=5" spelled "-p" "5", as the hand-written parser before CLI11
// accepted it (CLI11 reads "-p=5" as the value "=5"). Stops at "--".
std::vector<std::string> SplitShortOptionValues(int argc, char** argv);

}  // namespace goscope
