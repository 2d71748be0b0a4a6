#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "binary_info.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "error.h"

namespace {

std::string HelpOf(const CLI::App& goscope, const CLI::App* app) {
  return goscope.get_formatter()->make_help(app, app == &goscope ? "goscope" : "goscope " + app->get_name(),
                                            CLI::AppFormatMode::Normal);
}

// goscope help [COMMAND]: the same text as --help, for those who ask this way.
goscope::Command AddHelpCommand(CLI::App& goscope) {
  CLI::App* cmd = goscope::AddCommand(goscope, "help", "this help, or a command's (as goscope COMMAND --help)", "");
  auto about = std::make_shared<std::string>();
  cmd->add_option("COMMAND", *about, "the command to explain");
  return {cmd, [&goscope, about] {
            const CLI::App* app = &goscope;
            if (!about->empty()) {
              auto subs = goscope.get_subcommands({});
              auto it =
                  std::find_if(subs.begin(), subs.end(), [&](const CLI::App* s) { return s->get_name() == *about; });
              if (it == subs.end()) throw goscope::UsageError(fmt::format("unknown command '{}'", *about));
              app = *it;
            }
            fmt::print("{}", HelpOf(goscope, app));
            return 0;
          }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App goscope("goscope: trace unmodified Go programs from the outside", "goscope");
  goscope::ConfigureGoscopeApp(goscope);
  goscope.footer("Run 'goscope COMMAND --help' (or 'goscope help COMMAND') for a command's options.\n"
                 "A command line goscope cannot run as given exits 2.");
  const std::vector<goscope::Command> commands = {
      goscope::AddInfoCommand(goscope),       goscope::AddSymbolizeCommand(goscope),
      goscope::AddAttachCommand(goscope),     goscope::AddRunCommand(goscope),
      goscope::AddAgentCommand(goscope),      goscope::AddGoroutinesCommand(goscope),
      goscope::AddGcCommand(goscope),         goscope::AddHeapCommand(goscope),
      goscope::AddStatsCommand(goscope),      goscope::AddLeaksCommand(goscope),
      goscope::AddRetainCommand(goscope),     goscope::AddProbeCheckCommand(goscope),
      AddHelpCommand(goscope),
  };
  if (argc < 2) {
    fmt::print(stderr, "{}", HelpOf(goscope, &goscope));
    return 2;
  }
  std::vector<std::string> args = goscope::SplitShortOptionValues(argc - 1, argv + 1);
  std::reverse(args.begin(), args.end());  // CLI11 takes the last first
  try {
    goscope.parse(args);
  } catch (const CLI::Success&) {  // --help, of goscope or of the command given
    fmt::print("{}", goscope.help());
    return 0;
  } catch (const CLI::ParseError& e) {
    return goscope::ReportUsageError(goscope, e);
  }
  auto given = std::find_if(commands.begin(), commands.end(), [](const auto& c) { return c.cli->parsed(); });
  const std::string name = given->cli->get_name();
  try {
    return given->run();
  } catch (const goscope::UsageError& e) {
    return goscope::ReportUsageError(name, e.what());
  } catch (const goscope::Untraceable& e) {
    fmt::print(stderr, "goscope {}: {}\n", name, e.what());
    return 3;
  } catch (const goscope::Error& e) {
    fmt::print(stderr, "goscope {}: {}\n", name, e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "goscope {}: internal error: {}\n", name, e.what());
    return 1;
  }
}
