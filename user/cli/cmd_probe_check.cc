// goscope probe-check -p PID: attaches a counting uprobe at every site the
// tracers would use and reports how often each one fired. Proves, on the live
// process, that the decoded sites are real and executed.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

struct ProbeCheckArgs {
  std::optional<long long> pid;
  long long duration = 2;
  bool json = false;
};

struct SkeletonDeleter {
  void operator()(probe_check_bpf* s) const { probe_check_bpf__destroy(s); }
};

int RunProbeCheck(const ProbeCheckArgs& args) {
  const long long duration = args.duration;
  TargetProcess target = TargetProcess::Find(static_cast<pid_t>(*args.pid));
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
      cookies.push_back(UprobeLinks::CookieOf(s, attached.size()));
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
  bool json = args.json;
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

}  // namespace

Command AddProbeCheckCommand(CLI::App& goscope) {
  CLI::App* cmd = AddCommand(goscope, "probe-check",
                             "count hits at every probe site in a live process (proves the sites are right)",
                             "Attaches a counting uprobe at every probe site `goscope info` lists and prints\n"
                             "how many times each fired in S seconds. Needs root. Writes nothing to the target.\n");
  auto args = std::make_shared<ProbeCheckArgs>();
  AddPidOption(*cmd, args->pid, "the Go process to probe")->required();
  AddNumberOption(*cmd, "--duration", args->duration, "S", "seconds to count hits")
      ->check(NumberInRange(1, 86400, "must be 1..86400 seconds"));
  AddJsonFlag(*cmd, args->json, "print JSON");
  return {cmd, [args] { return RunProbeCheck(*args); }};
}

}  // namespace goscope
