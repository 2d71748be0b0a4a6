// goscope info: what the reader found in a binary, and whether it can be traced.
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "binary_info.h"
#include "cli/commands.h"
#include "error.h"
#include "output/output_schema.h"
#include "process/target_process.h"

namespace goscope {
namespace {

using nlohmann::json;

struct InfoArgs {
  std::optional<long long> pid;
  std::optional<std::string> path;
  bool json = false;
  bool layout = false;
};

std::string_view FormatName(PclntabFormat f) {
  switch (f) {
    case PclntabFormat::kGo116: return "go1.16";
    case PclntabFormat::kGo118: return "go1.18";
    case PclntabFormat::kGo120: return "go1.20";
  }
  return "?";
}

struct Report {
  std::string path;
  pid_t pid = 0;
  uint64_t load_bias = 0;
  BinaryInfo info;
  std::vector<uint64_t> newproc1_rets;
};

json ToJson(const Report& r) {
  const GoBinary& b = *r.info.binary;
  json j;
  j["path"] = r.path;
  j["schema_version"] = kOutputSchemaVersion;
  j["pid"] = r.pid ? json(r.pid) : json(nullptr);
  if (r.pid) j["load_bias"] = fmt::format("{:#x}", r.load_bias);
  j["go_version"] = b.go_version();
  j["tested_releases"] = TestedReleases();
  if (const auto& bi = b.build_info()) {
    json settings = json::object();
    for (const auto& [k, v] : bi->settings) settings[k] = v;
    j["build_info"] = {{"path", bi->path}, {"main_module", bi->main_module}, {"settings", settings}};
  } else {
    j["build_info"] = nullptr;
  }
  j["pie"] = b.elf().is_pie();
  j["build_id"] = b.identity();
  j["symtab"] = b.has_symtab();
  j["dwarf"] = b.has_dwarf();
  if (!r.info.dwarf_error.empty()) j["dwarf_error"] = r.info.dwarf_error;
  j["pclntab"] = {{"address", fmt::format("{:#x}", b.pclntab().vaddr())},
                  {"format", FormatName(b.pclntab().format())},
                  {"text_start", fmt::format("{:#x}", b.pclntab().text_start())},
                  {"text_start_from", b.text_start_origin()},
                  {"functions", b.pclntab().funcs().size()}};
  if (const auto& md = b.moduledata())
    j["moduledata"] = {{"address", fmt::format("{:#x}", md->address.value)}, {"source", SourceName(md->address.source)}};
  else
    j["moduledata"] = nullptr;
  json sites = json::array();
  for (const auto& s : r.info.sites) {
    json addrs = json::array();
    for (uint64_t a : s.addresses) addrs.push_back(fmt::format("{:#x}", a));
    sites.push_back({{"purpose", PurposeName(s.purpose)},
                     {"function", s.function},
                     {"entry", fmt::format("{:#x}", s.function_entry)},
                     {"addresses", addrs},
                     {"how", s.how},
                     {"error", s.error.empty() ? json(nullptr) : json(s.error)}});
  }
  j["probe_sites"] = sites;
  json rets = json::array();
  for (uint64_t a : r.newproc1_rets) rets.push_back(fmt::format("{:#x}", a));
  j["newproc1_rets"] = rets;
  json layout = json::object();
  for (const auto& [k, v] : r.info.layout.values) layout[k] = {{"value", v.value}, {"source", SourceName(v.source)}};
  j["runtime_layout"] = layout;
  j["traceable"] = r.info.verdict.traceable;
  j["problems"] = r.info.verdict.problems;
  j["notes"] = r.info.verdict.notes;
  return j;
}

void PrintText(const Report& r, bool all_layout) {
  const GoBinary& b = *r.info.binary;
  fmt::print("{}{}\n", r.path, r.pid ? fmt::format(" (pid {}, load bias {:#x})", r.pid, r.load_bias) : "");
  fmt::print("  go version    {} (goscope is tested on {})\n", b.go_version().empty() ? "unknown" : b.go_version(),
             TestedReleases());
  if (const auto& bi = b.build_info()) {
    fmt::print("  main package  {}\n", bi->path.empty() ? "-" : bi->path);
    for (const auto& [k, v] : bi->settings)
      if (k == "-buildmode" || k == "CGO_ENABLED" || k == "-ldflags") fmt::print("  build         {}={}\n", k, v);
  }
  fmt::print("  build id      {}\n", b.identity().empty() ? "none" : b.identity());
  fmt::print("  elf           {}, symtab {}, DWARF {}{}\n", b.elf().is_pie() ? "PIE" : "fixed address",
             b.has_symtab() ? "yes" : "no (stripped)", b.has_dwarf() ? "yes" : "no",
             r.info.dwarf_error.empty() ? "" : " (unreadable: " + r.info.dwarf_error + ")");
  fmt::print("  pclntab       {:#x}, {} format, {} functions, text at {:#x} (from {})\n", b.pclntab().vaddr(),
             FormatName(b.pclntab().format()), b.pclntab().funcs().size(), b.pclntab().text_start(),
             b.text_start_origin());
  if (const auto& md = b.moduledata())
    fmt::print("  moduledata    {:#x} (from {})\n", md->address.value, SourceName(md->address.source));

  fmt::print("\nprobe sites\n");
  for (const auto& s : r.info.sites) {
    if (s.not_needed()) {
      fmt::print("  {:<20} {:<30} none needed in this release\n", PurposeName(s.purpose), s.function);
      continue;
    }
    if (!s.ok()) {
      fmt::print("  {:<20} {:<30} unavailable: {}\n", PurposeName(s.purpose), s.function, s.error);
      continue;
    }
    std::string addrs;
    for (uint64_t a : s.addresses) addrs += fmt::format("{}{:#x}", addrs.empty() ? "" : ",", a);
    fmt::print("  {:<20} {:<30} {:<10} {}\n", PurposeName(s.purpose), s.function, addrs, s.how);
  }
  std::string rets;
  for (uint64_t a : r.newproc1_rets) rets += fmt::format(" {:#x}", a);
  fmt::print("  runtime.newproc1 RETs:{}\n", rets.empty() ? " none found" : rets);

  fmt::print("\nruntime layout{}\n", all_layout ? "" : " (the values tracers require; --layout lists all)");
  std::vector<std::string> keys;
  if (all_layout)
    for (const auto& [k, v] : r.info.layout.values) keys.push_back(k);
  else
    keys = RequiredLayoutKeys(b), keys.push_back("runtime.MemProfileRate"),
    keys.push_back("runtime.waitReasonStrings");
  for (const auto& k : keys) {
    Sourced v = r.info.layout.get(k);
    bool address = k.find('.', 8) == std::string::npos;  // "runtime.allgs": a variable
    fmt::print("  {:<34} {:<12} {}\n", k,
               !v.known() ? "-" : address ? fmt::format("{:#x}", v.value) : std::to_string(v.value),
               v.known() ? SourceName(v.source) : "unknown");
  }
  fmt::print("\n{}\n", r.info.verdict.traceable ? "verdict: traceable" : "verdict: NOT traceable");
  for (const auto& p : r.info.verdict.problems) fmt::print("  problem: {}\n", p);
  for (const auto& n : r.info.verdict.notes) fmt::print("  note: {}\n", n);
}

int RunInfo(const InfoArgs& args) {
  Report r;
  std::shared_ptr<const GoBinary> bin;
  if (args.pid) {
    TargetProcess t = TargetProcess::Find(static_cast<pid_t>(*args.pid));
    r.path = t.exe_path, r.pid = t.pid, r.load_bias = t.load_bias, bin = t.binary;
  } else if (args.path) {
    r.path = *args.path;
    bin = GoBinary::Open(r.path);
  } else {
    throw UsageError("give one PATH or -p PID");
  }
  r.info = PrepareBinary(bin);
  if (const Func* f = bin->pclntab().LookupFunction("runtime.newproc1")) r.newproc1_rets = FunctionRets(*bin, *f);
  if (args.json)
    fmt::print("{}\n", ToJson(r).dump(2, ' ', false, json::error_handler_t::replace));
  else
    PrintText(r, args.layout);
  return r.info.verdict.traceable ? 0 : 3;
}

}  // namespace

Command AddInfoCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(
      goscope, "info", "what goscope knows about a Go binary or process, and whether it can be traced",
      "Reads a Go binary without running it: Go version and build info, which tables it\n"
      "has (pclntab, symbols, DWARF), the probe sites the tracers use, the runtime\n"
      "offsets and variables with where each came from, and a verdict on whether it\n"
      "can be traced. Give PATH or -p PID. Exit status 0 when traceable, 3 when not,\n"
      "1 on error, 2 on bad usage.\n");
  auto args = std::make_shared<InfoArgs>();
  cmd->add_option("PATH", args->path, "a Go executable");
  AddPidOption(*cmd, args->pid, "a running process (reads /proc/PID/exe); PATH is then ignored");
  AddJsonFlag(*cmd, args->json, "print JSON");
  cmd->add_flag("--layout", args->layout, "list every runtime offset and variable found (text output)");
  return {cmd, [args] { return RunInfo(*args); }};
}

}  // namespace goscope
