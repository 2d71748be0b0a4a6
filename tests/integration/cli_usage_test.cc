// The command line as a user meets it, through the real goscope executable:
// in every command an unknown option and a missing value are usage errors
// (exit 2, one line on stderr naming the option and pointing at --help), and
// --help (exit 0) lists exactly the options the command takes, with defaults.
// The tables below are the options each command had before CLI11: an option
// lost, renamed or added shows up here.
#include <algorithm>
#include <cctype>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "child.h"

#ifndef GOSCOPE_BINARY
#error "GOSCOPE_BINARY must be defined (tests/integration/CMakeLists.txt does)"
#endif

namespace goscope {
namespace {

using testing::Child;
using testing::Io;

struct Outcome {
  int rc = -1;
  std::string out, err;
};

Outcome Goscope(std::vector<std::string> args) {
  args.insert(args.begin(), GOSCOPE_BINARY);
  Child c(args, {.in = Io::kNull, .out = Io::kPipe, .err = Io::kPipe});
  Outcome o;
  o.rc = c.Wait(30000);
  o.out = c.out();
  o.err = c.err();
  return o;
}

struct CommandLine {
  std::string name;
  std::vector<std::string> options;    // every option, -h,--help aside
  std::vector<std::string> arguments;  // positionals, as --help names them
  // Arguments that lack a value (the last word), and the name the error must give.
  std::vector<std::string> missing_value;
  std::string missing_name;
  // Options whose default --help must show: {option, "(default X)"}.
  std::vector<std::pair<std::string, std::string>> defaults;
};

const std::vector<std::string> kTraceOptions = {"--interval", "--alloc-mode", "--heap-rate", "--no-write",
                                                "--format",   "--ring-size",  "--creations",  "--exit-times", "--prove-leaks"};

std::vector<std::string> Plus(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<CommandLine>& Commands() {
  static const std::vector<CommandLine> commands = {
      {"info", {"-p", "--json", "--layout"}, {"PATH"}, {"-p"}, "-p", {}},
      // No option takes a value: the missing one is PATH.
      {"symbolize", {"--json", "--stdin"}, {"PATH", "ADDR..."}, {}, "PATH", {}},
      {"attach",
       Plus({"-p", "--wait-for", "--until", "--duration", "-o"}, kTraceOptions),
       {},
       {"-p", "1", "--duration"},
       "--duration",
       {{"--until", "(default exit)"},
        {"-o", "(default ./goscope-PID-TIME)"},
        {"--interval", "(default 10)"},
        {"--alloc-mode", "(default sampled)"},
        {"--heap-rate", "(default 524288)"},
        {"--ring-size", "(default 16777216)"}}},
      {"run",
       Plus({"-o", "--until", "--duration", "-q"}, kTraceOptions),
       {"PROG..."},
       {"--until"},
       "--until",
       {{"--until", "(default exit)"}, {"--interval", "(default 10)"}}},
      {"agent",
       {"--config", "--listen", "--token-file", "--no-http", "--profile-dir", "--interval", "--no-write", "-q"},
       {},
       {"--listen"},
       "--listen",
       {{"--listen", "(default 127.0.0.1:9464"}, {"--interval", "(default 60"}}},
      {"goroutines",
       {"-p", "--format", "--group", "--all", "-o", "--freeze", "--frame-pointers", "--max-depth"},
       {},
       {"-p"},
       "-p",
       {{"--format", "(default text)"}, {"--max-depth", "(default 128)"}}},
      {"gc", {"-p", "--duration", "--json", "--timeline"}, {}, {"-p", "1", "--timeline"}, "--timeline", {}},
      {"heap",
       {"-p", "--duration", "-o", "--alloc-mode", "--heap-rate", "--no-write", "--folded", "--folded-value"},
       {},
       {"-p", "1", "--folded-value"},
       "--folded-value",
       {{"-o", "(default heap-PID.pb.gz)"},
        {"--alloc-mode", "(default sampled)"},
        {"--heap-rate", "(default 524288)"},
        {"--folded-value", "(default alloc_space)"}}},
      {"probe-check", {"-p", "--duration", "--json"}, {}, {"-p"}, "-p", {{"--duration", "(default 2)"}}},
      {"leaks", {"-p", "--max-pause", "--json", "-o"}, {}, {"-p"}, "-p", {{"--max-pause", "(default 5000)"}}},
      {"retain",
       {"-p", "-o", "--max-pause", "--depth", "--top"},
       {},
       {"-p", "1", "--depth"},
       "--depth",
       {{"-o", "(default retain-PID.pb.gz"}, {"--max-pause", "(default 5000)"}, {"--depth", "(default 12)"}}},
      {"stats", {"-p", "--watch", "--json"}, {}, {"-p"}, "-p", {}},
  };
  return commands;
}

void PrintTo(const CommandLine& c, std::ostream* os) { *os << "goscope " << c.name; }

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// The names in one section ("Options:", "Arguments:") of a --help: the first
// word of each entry, split at commas ("-h,--help").
std::set<std::string> Section(const std::string& help, const std::string& title) {
  std::set<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == title) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.empty() || line[0] != ' ') break;
    if (line.size() < 3 || line[2] == ' ') continue;  // a description's continuation
    std::string word = line.substr(2, line.find(' ', 2) - 2);
    std::istringstream parts(word);
    for (std::string part; std::getline(parts, part, ',');) names.insert(part);
  }
  return names;
}

// The entry of one option in --help's option list, continuation lines included.
std::string Entry(const std::string& help, const std::string& option) {
  const size_t options = help.find("\nOptions:\n");
  if (options == std::string::npos) return "";
  size_t at = help.find("\n  " + option + " ", options);
  if (at == std::string::npos) at = help.find("\n  " + option + "\n", options);
  if (at == std::string::npos) return "";
  size_t end = help.find('\n', at + 1);
  while (end != std::string::npos && help.compare(end + 1, 3, "   ") == 0) end = help.find('\n', end + 1);
  std::string entry = help.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
  std::string flat;  // on one line, single spaces
  for (char ch : entry) {
    if (!std::isspace(static_cast<unsigned char>(ch)))
      flat += ch;
    else if (!flat.empty() && flat.back() != ' ')
      flat += ' ';
  }
  return flat;
}

class CliUsage : public ::testing::TestWithParam<CommandLine> {};

TEST_P(CliUsage, UnknownOptionIsAUsageError) {
  const CommandLine& c = GetParam();
  Outcome o = Goscope({c.name, "--no-such-option"});
  EXPECT_EQ(o.rc, 2) << o.err;
  EXPECT_EQ(Lines(o.err), 1u) << o.err;
  EXPECT_NE(o.err.find("--no-such-option"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("goscope " + c.name + " --help"), std::string::npos) << o.err;
  EXPECT_EQ(o.out, "");
}

TEST_P(CliUsage, MissingValueIsAUsageError) {
  const CommandLine& c = GetParam();
  std::vector<std::string> args = {c.name};
  args.insert(args.end(), c.missing_value.begin(), c.missing_value.end());
  Outcome o = Goscope(args);
  EXPECT_EQ(o.rc, 2) << o.err;
  EXPECT_EQ(Lines(o.err), 1u) << o.err;
  EXPECT_NE(o.err.find(c.missing_name), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("goscope " + c.name + " --help"), std::string::npos) << o.err;
}

TEST_P(CliUsage, HelpListsEveryOptionAndDefault) {
  const CommandLine& c = GetParam();
  Outcome o = Goscope({c.name, "--help"});
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.err, "");
  EXPECT_EQ(o.out.rfind("usage: goscope " + c.name, 0), 0u) << o.out;
  std::set<std::string> want(c.options.begin(), c.options.end());
  want.insert({"-h", "--help"});
  EXPECT_EQ(Section(o.out, "Options:"), want) << o.out;
  EXPECT_EQ(Section(o.out, "Arguments:"), std::set<std::string>(c.arguments.begin(), c.arguments.end())) << o.out;
  for (const auto& [option, shown] : c.defaults)
    EXPECT_NE(Entry(o.out, option).find(shown), std::string::npos) << option << " should show " << shown << "\n"
                                                                    << o.out;
  // Every option is in the usage line too.
  const std::string usage = o.out.substr(0, o.out.find("\n\n"));
  for (const auto& option : c.options) {
    bool listed = usage.find("[" + option + "]") != std::string::npos ||
                  usage.find("[" + option + " ") != std::string::npos ||
                  usage.find(" " + option + " ") != std::string::npos;
    EXPECT_TRUE(listed) << option << "\n" << usage;
  }

  for (const std::vector<std::string>& args :
       {std::vector<std::string>{c.name, "-h"}, std::vector<std::string>{"help", c.name}}) {
    Outcome same = Goscope(args);
    EXPECT_EQ(same.rc, 0) << args[0] << " " << args[1];
    EXPECT_EQ(same.out, o.out) << args[0] << " " << args[1];
  }
}

INSTANTIATE_TEST_SUITE_P(EveryCommand, CliUsage, ::testing::ValuesIn(Commands()),
                         [](const ::testing::TestParamInfo<CommandLine>& p) {
                           std::string name = p.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(CliUsageTop, HelpListsEveryCommand) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, std::vector<std::string>{"-h"}, std::vector<std::string>{"help"}}) {
    Outcome o = Goscope(args);
    EXPECT_EQ(o.rc, 0) << args[0];
    for (const auto& c : Commands()) EXPECT_NE(o.out.find("\n  " + c.name + " "), std::string::npos) << c.name;
  }
  Outcome none = Goscope({});
  EXPECT_EQ(none.rc, 2);
  EXPECT_NE(none.err.find("usage: goscope COMMAND"), std::string::npos) << none.err;
}

TEST(CliUsageTop, UnknownCommandAndOptionAreUsageErrors) {
  for (const auto& [args, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"nosuchcommand"}, "unknown command 'nosuchcommand'"},
           {{"--bogus"}, "unknown option --bogus"},
           {{"help", "nosuchcommand"}, "unknown command 'nosuchcommand'"}}) {
    Outcome o = Goscope(args);
    EXPECT_EQ(o.rc, 2) << needle;
    EXPECT_EQ(Lines(o.err), 1u) << o.err;
    EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
    EXPECT_NE(o.err.find("--help"), std::string::npos) << o.err;
  }
}

// The other kinds of usage error, one per rule the commands check before
// doing anything; none needs a process.
TEST(CliUsageTop, BadValuesAndCombinationsAreUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"info"}, "give one PATH or -p PID"},
      {{"info", "-p", "notanumber"}, "-p expects a number, got 'notanumber'"},
      {{"info", "-p=notanumber"}, "-p expects a number, got 'notanumber'"},  // -p=V, as before CLI11
      {{"info", "--json=yes", "/bin/true"}, "--json takes no value"},
      {{"info", "a", "b"}, "unexpected argument 'b'"},
      {{"gc"}, "-p PID is required"},
      {{"gc", "-p", "1", "--duration", "-1"}, "--duration must be positive"},
      {{"heap", "-p", "1", "--alloc-mode", "off"}, "--alloc-mode must be sampled or exact"},
      {{"heap", "-p", "1", "--heap-rate", "0"}, "--heap-rate must be positive"},
      {{"heap", "-p", "1", "--alloc-mode", "exact", "--folded-value", "inuse_space"}, "exact mode has no inuse"},
      {{"goroutines", "-p", "1", "--format", "xml"}, "--format must be text, json or pprof"},
      {{"goroutines", "-p", "1", "--format", "pprof"}, "--format pprof needs -o FILE"},
      {{"goroutines", "-p", "1", "--group", "--format", "json"}, "--group applies to --format text only"},
      {{"goroutines", "-p", "1", "--max-depth", "0"}, "--max-depth must be between 1 and 100000"},
      {{"attach"}, "-p PID or --wait-for PATH is required"},
      {{"attach", "-p", "1", "--wait-for", "/bin/true"}, "-p and --wait-for exclude each other"},
      {{"attach", "-p", "1", "--until", "main"}, "--until requires --wait-for"},
      {{"attach", "-p", "1", "--alloc-mode", "fast"}, "--alloc-mode must be sampled, exact or off"},
      {{"attach", "-p", "1", "--format", "svg"}, "--format must be folded"},
      {{"attach", "-p", "1", "--ring-size", "5000"}, "--ring-size must be a power of two"},
      {{"attach", "-p", "1", "--interval", "0"}, "--interval must be positive"},
      {{"run"}, "no program given"},
      {{"run", "--until", "never", "--", "/bin/true"}, "--until must be main or exit"},
      {{"agent", "--interval", "0"}, "--interval must be positive"},
      {{"probe-check", "-p", "1", "--duration", "0"}, "--duration must be 1..86400 seconds"},
      {{"symbolize", "/bin/true"}, "no addresses given"},
      {{"symbolize", "/bin/true", "0xnothex"}, "'0xnothex' is not a hex address"},
  };
  for (const auto& [args, needle] : cases) {
    Outcome o = Goscope(args);
    const std::string command = "goscope " + args[0];
    EXPECT_EQ(o.rc, 2) << command << ": " << o.err;
    EXPECT_EQ(Lines(o.err), 1u) << o.err;
    EXPECT_EQ(o.err.rfind(command + ": ", 0), 0u) << o.err;
    EXPECT_NE(o.err.find(needle), std::string::npos) << needle << "\n" << o.err;
    EXPECT_NE(o.err.find("see " + command + " --help"), std::string::npos) << o.err;
  }
}

// Runtime errors keep their codes: 1 for a process that is not there, 3 for a
// binary goscope cannot trace (main.cc's mapping).
TEST(CliUsageTop, RuntimeErrorsKeepTheirCodes) {
  Outcome gone = Goscope({"gc", "-p", "999999999"});
  EXPECT_EQ(gone.rc, 1) << gone.err;
  EXPECT_EQ(gone.err.find("see goscope"), std::string::npos) << gone.err;
  Outcome not_go = Goscope({"info", "/bin/true"});
  EXPECT_EQ(not_go.rc, 1) << not_go.err;
}

}  // namespace
}  // namespace goscope
