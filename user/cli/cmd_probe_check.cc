// goscope probe-check -p PID: attaches a counting uprobe at every site the
// tracers would use and reports how often each one fired. Proves, on the live
// process, that the decoded sites are real and executed.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "error.h"
#include "go_binary.h"
#include "probe_check.h"
#include "probe_check.skel.h"
#include "probe_sites.h"
#include "process/target_process.h"
#include "probes/uprobe_links.h"

namespace goscope {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"-p", true, "the Go process to probe"},
    {"--duration", true, "seconds to count hits (default 2)"},
    {"--json", false, "print JSON"},
    {"--help", false, "show this help"},
};

struct SkeletonDeleter {
  void operator()(probe_check_bpf* s) const { probe_check_bpf__destroy(s); }
};

}  // namespace

int RunProbeCheck(int argc, char** argv) {
  CliArgs args("probe-check", kOptions, argc, argv);
  if (args.has("--help")) {
    fmt::print("usage: goscope probe-check -p PID [--duration S] [--json]\n\n"
               "Attaches a counting uprobe at every probe site `goscope info` lists and prints\n"
               "how many times each fired in S seconds. Needs root. Writes nothing to the target.\n\n{}",
               CliArgs::Usage(kOptions));
    return 0;
  }
  auto pid = args.get_int("-p");
  if (!pid) throw Error("-p PID is required");
  long long duration = args.get_int("--duration").value_or(2);
  if (duration <= 0 || duration > 86400) throw Error("--duration must be 1..86400 seconds");
  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*pid));
  std::string why;
  if (!CanLoadBpf(&why)) throw Error("cannot load BPF: " + why);

  auto sites = FindProbeSites(*target.binary);
  std::unique_ptr<probe_check_bpf, SkeletonDeleter> skel(probe_check_bpf__open());
  if (!skel) throw Error(fmt::format("opening the probe_check BPF program: {}", std::strerror(errno)));
  PrepareUprobeMulti(skel->obj);
  if (int err = probe_check_bpf__load(skel.get()))
    throw Error(fmt::format("loading the probe_check BPF program: {}", std::strerror(-err)));

  UprobeLinks links;
  std::vector<std::pair<const ProbeSite*, uint64_t>> attached;  // cookie -> site, address
  std::vector<uint64_t> addresses, cookies;
  for (const auto& s : sites) {
    for (uint64_t addr : s.addresses) {
      if (attached.size() >= PROBE_CHECK_MAX_SITES) break;
      addresses.push_back(addr);
      cookies.push_back(attached.size());
      attached.push_back({&s, addr});
    }
  }
  links.AttachAll(skel->progs.count_hit, target.exe_path, target.binary->elf(), target.pid, addresses, cookies);
  fmt::print(stderr, "goscope probe-check: {} probes live on pid {}, counting for {}s\n", links.size(), target.pid,
             duration);
  skel->bss->counting = true;
  std::this_thread::sleep_for(std::chrono::seconds(duration));
  skel->bss->counting = false;
  links.DetachAll();

  int map_fd = bpf_map__fd(skel->maps.hits);
  nlohmann::json out = nlohmann::json::array();
  std::map<const ProbeSite*, uint64_t> per_site;
  for (uint32_t i = 0; i < attached.size(); i++) {
    uint64_t n = 0;
    bpf_map_lookup_elem(map_fd, &i, &n);
    per_site[attached[i].first] += n;
  }
  bool json = args.has("--json");
  if (!json) fmt::print("{:<20} {:<32} {:>10}  {}\n", "SITE", "FUNCTION", "HITS", "WHERE");
  for (const auto& s : sites) {
    if (json) {
      out.push_back({{"site", PurposeName(s.purpose)},
                     {"function", s.function},
                     {"probes", s.addresses.size()},
                     {"hits", s.ok() ? nlohmann::json(per_site[&s]) : nlohmann::json(nullptr)},
                     {"how", s.how},
                     {"error", s.error}});
    } else {
      fmt::print("{:<20} {:<32} {:>10}  {}\n", PurposeName(s.purpose), s.function,
                 s.ok() ? std::to_string(per_site[&s]) : "-",
                 s.ok() ? s.how : s.not_needed() ? "none needed in this release" : s.error);
    }
  }
  if (json) fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace goscope
