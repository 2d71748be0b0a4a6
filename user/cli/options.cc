#include "cli/options.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

namespace goscope {
namespace {

constexpr size_t kHelpWidth = 100;
constexpr size_t kOptionColumn = 30;
constexpr size_t kCommandColumn = 16;

// Words joined by spaces into lines of at most `width` characters; `column` is
// where the first word starts, later lines start at `indent`.
std::string Fill(const std::vector<std::string>& words, size_t column, size_t indent, size_t width) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) {
      if (column + 1 + w.size() > width) {
        out += "\n" + std::string(indent, ' ');
        column = indent;
      } else {
        out += ' ';
        column++;
      }
    }
    out += w;
    column += w.size();
  }
  return out;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  return {std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
}

std::string OptionName(const CLI::Option* opt) {
  return opt->get_lnames().empty() ? "-" + opt->get_snames().front() : "--" + opt->get_lnames().front();
}

bool IsFlag(const CLI::Option* opt) { return opt->get_type_name().empty(); }

bool TakesList(const CLI::Option* opt) { return opt->get_expected_max() >= CLI::detail::expected_max_vector_size; }

// The layout of every goscope help: a usage line generated from the options
// (so it cannot list one that does not exist), the summary, the command's
// prose, then each argument and option with its default.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() {
    column_width(kOptionColumn);
    label("Positionals", "Arguments");
  }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    std::string out = make_usage(app, name) + "\n" + app->get_description() + "\n";
    const bool top = app->get_parent() == nullptr;
    if (!top && !app->get_footer().empty()) out += "\n" + app->get_footer();
    out += make_positionals(app) + make_groups(app, mode) + make_subcommands(app, mode);
    if (top && !app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
    return out;
  }

  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::vector<std::string> words;
    for (const CLI::Option* opt : app->get_options()) {
      if (opt == app->get_help_ptr() || opt->get_positional()) continue;
      std::string w = OptionName(opt);
      if (!IsFlag(opt)) w += " " + opt->get_type_name();
      words.push_back(opt->get_required() ? w : "[" + w + "]");
    }
    for (const CLI::Option* opt : app->get_options()) {
      if (!opt->get_positional()) continue;
      if (!opt->get_option_text().empty()) {
        words.push_back(opt->get_option_text());
        continue;
      }
      std::string w = opt->get_name(true) + (TakesList(opt) ? "..." : "");
      words.push_back(opt->get_required() ? w : "[" + w + "]");
    }
    if (!app->get_subcommands({}).empty()) words.insert(words.begin(), {"COMMAND", "[options]"});
    const std::string lead = "usage: " + name;
    if (words.empty()) return lead + "\n";
    return lead + " " + Fill(words, lead.size() + 1, lead.size() + 1, kHelpWidth) + "\n";
  }

  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_positional()) return TakesList(opt) ? "..." : "";
    return IsFlag(opt) ? "" : " " + opt->get_type_name();
  }

  std::string make_option_desc(const CLI::Option* opt) const override {
    // Each note stays on one line.
    std::vector<std::string> words = Words(opt->get_description());
    if (!opt->get_default_str().empty()) words.push_back("(default " + opt->get_default_str() + ")");
    if (opt->get_required() && !opt->get_positional()) words.push_back("(required)");
    for (const CLI::Option* other : opt->get_needs()) words.push_back("(needs " + OptionName(other) + ")");
    for (const CLI::Option* other : opt->get_excludes()) words.push_back("(not with " + OptionName(other) + ")");
    return Fill(words, 0, 0, kHelpWidth - kOptionColumn);
  }

  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_name(), sub->get_description(), kCommandColumn);
    return out.str();
  }
};

// "NAME: rest" -> {NAME, rest}, as CLI11 prefixes its messages.
std::pair<std::string, std::string> SplitName(const std::string& message) {
  auto colon = message.find(": ");
  if (colon == std::string::npos || message.find(' ') < colon) return {"", message};
  return {message.substr(0, colon), message.substr(colon + 2)};
}

bool LooksLikeOption(const std::string& arg) { return arg.size() > 1 && arg[0] == '-'; }

// The one problem to name for a CLI11 parse error, and the command it is in
// ("" for goscope itself).
std::pair<std::string, std::string> Describe(const CLI::App& goscope, const CLI::ParseError& e) {
  const CLI::App* cmd = goscope.get_subcommands().empty() ? nullptr : goscope.get_subcommands().front();
  const std::string cmd_name = cmd ? cmd->get_name() : "";
  // Words nobody declared: CLI11 leaves them over whatever error it throws first.
  for (const auto& arg : goscope.remaining()) {
    if (arg == "--") continue;  // CLI11 keeps the end-of-options mark it consumed
    if (LooksLikeOption(arg)) return {"", "unknown option " + arg};
    if (!cmd) return {"", fmt::format("unknown command '{}'", arg)};
    return {cmd_name, fmt::format("unexpected argument '{}'", arg)};
  }
  if (cmd) {
    for (const auto& arg : cmd->remaining()) {
      if (arg == "--") continue;
      if (LooksLikeOption(arg)) return {cmd_name, "unknown option " + arg};
      return {cmd_name, fmt::format("unexpected argument '{}'", arg)};
    }
  }
  const std::string what = e.what();
  auto [name, rest] = SplitName(what);
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
    if (!name.empty() && rest.ends_with(" missing")) return {cmd_name, fmt::format("option {} needs a value", name)};
    if (auto at = what.find(" was given a disallowed flag override"); at != std::string::npos) {
      std::string flag = what.substr(0, at);
      return {cmd_name, fmt::format("option {}{} takes no value", flag.size() == 1 ? "-" : "--", flag)};
    }
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e) && !name.empty())
    return {cmd_name, LooksLikeOption(name) ? name + " " + rest : rest};
  if (dynamic_cast<const CLI::RequiredError*>(&e) && cmd && what.ends_with(" is required")) {
    const CLI::Option* opt = cmd->get_option_no_throw(what.substr(0, what.size() - 12));
    if (opt && !opt->get_positional())
      return {cmd_name, fmt::format("{} {} is required", OptionName(opt), opt->get_type_name())};
  }
  if (auto at = what.find(" excludes "); dynamic_cast<const CLI::ExcludesError*>(&e) && at != std::string::npos)
    return {cmd_name, fmt::format("{} and {} exclude each other", what.substr(0, at), what.substr(at + 10))};
  return {cmd_name, what};
}

std::string Choices(const std::vector<std::string>& choices, const std::string& last_join) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i)
    out += (i == 0 ? "" : i + 1 == choices.size() ? last_join : ", ") + choices[i];
  return out;
}

}  // namespace

void ConfigureGoscopeApp(CLI::App& goscope) {
  goscope.formatter(std::make_shared<HelpFormatter>());
  goscope.set_help_flag("-h,--help", "show this help");
  // As before CLI11: a repeated option's last value counts, and "--json=x" is
  // an error rather than a way to switch a flag off.
  goscope.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->disable_flag_override();
  goscope.require_subcommand(1);
}

CLI::App* AddCommand(CLI::App& goscope, const std::string& name, const std::string& summary,
                     const std::string& details) {
  CLI::App* cmd = goscope.add_subcommand(name, summary);
  cmd->group("Commands");
  cmd->footer(details);
  return cmd;
}

int ReportUsageError(const std::string& command, const std::string& problem) {
  const std::string who = command.empty() ? "goscope" : "goscope " + command;
  fmt::print(stderr, "{}: {}; see {} --help\n", who, problem, who);
  return 2;
}

int ReportUsageError(const CLI::App& goscope, const CLI::ParseError& e) {
  auto [command, problem] = Describe(goscope, e);
  return ReportUsageError(command, problem);
}

CLI::Validator Number() {
  return CLI::Validator(
      [](std::string& s) {
        char* end = nullptr;
        errno = 0;
        std::strtoll(s.c_str(), &end, 0);
        if (s.empty() || *end != '\0' || errno == ERANGE) return fmt::format("expects a number, got '{}'", s);
        return std::string();
      },
      "");
}

CLI::Validator NumberInRange(long long min, long long max, const std::string& must) {
  return CLI::Validator(
      [=](std::string& s) {
        long long v = std::strtoll(s.c_str(), nullptr, 0);  // after Number()
        return v < min || v > max ? must : std::string();
      },
      "");
}

CLI::Validator OneOf(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices](std::string& s) {
        for (const auto& c : choices)
          if (s == c) return std::string();
        return fmt::format("must be {}, not '{}'", Choices(choices, " or "), s);
      },
      "");
}

CLI::Option* AddPidOption(CLI::App& cmd, std::optional<long long>& pid, const std::string& help) {
  return AddNumberOption(cmd, "-p", pid, "PID", help);
}

CLI::Option* AddDurationOption(CLI::App& cmd, long long& seconds, const std::string& help) {
  return cmd.add_option("--duration", seconds, help)
      ->type_name("S")
      ->check(Number())
      ->check(NumberInRange(0, LLONG_MAX, "must be positive"));
}

CLI::Option* AddOutputOption(CLI::App& cmd, std::optional<std::string>& path, const std::string& type,
                             const std::string& help) {
  return cmd.add_option("-o", path, help)->type_name(type);
}

CLI::Option* AddJsonFlag(CLI::App& cmd, bool& json, const std::string& help) {
  return cmd.add_flag("--json", json, help);
}

CLI::Option* AddQuietFlag(CLI::App& cmd, bool& quiet, const std::string& help) {
  return cmd.add_flag("-q", quiet, help);
}

CLI::Option* AddNoWriteFlag(CLI::App& cmd, bool& no_write, const std::string& help) {
  return cmd.add_flag("--no-write", no_write, help);
}

CLI::Option* AddNumberOption(CLI::App& cmd, const std::string& name, long long& value, const std::string& type,
                             const std::string& help) {
  return cmd.add_option(name, value, help)->type_name(type)->check(Number())->capture_default_str();
}

CLI::Option* AddNumberOption(CLI::App& cmd, const std::string& name, std::optional<long long>& value,
                             const std::string& type, const std::string& help) {
  return cmd.add_option(name, value, help)->type_name(type)->check(Number());
}

CLI::Option* AddChoiceOption(CLI::App& cmd, const std::string& name, std::string& value,
                             const std::vector<std::string>& choices, const std::string& help) {
  std::string type;
  for (const auto& c : choices) type += (type.empty() ? "" : "|") + c;
  CLI::Option* opt = cmd.add_option(name, value, help)->type_name(type)->check(OneOf(choices));
  if (!value.empty()) opt->capture_default_str();
  return opt;
}

std::vector<std::string> SplitShortOptionValues(int argc, char** argv) {
  std::vector<std::string> args;
  bool options = true;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") options = false;
    if (options && a.size() >= 3 && a[0] == '-' && a[1] != '-' && a[2] == '=') {
      args.push_back(a.substr(0, 2));
      args.push_back(a.substr(3));
    } else {
      args.push_back(a);
    }
  }
  return args;
}

}  // namespace goscope
