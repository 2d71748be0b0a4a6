#include "process/cgroup_labels.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "error.h"
#include "process/proc_files.h"

namespace goscope {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsContainerId(std::string_view s) { return s.size() == 64 && IsLowerHex(s); }

// A pod UID as the kubelet writes it into cgroup names: a dashed UUID, or for
// static pods the 32-hex hash of the manifest. The systemd driver has already
// turned dashes into underscores (a dash separates slice levels); undo that.
std::string PodUid(std::string_view raw) {
  std::string uid(raw);
  std::replace(uid.begin(), uid.end(), '_', '-');
  if (uid.size() == 32 && IsLowerHex(uid)) return uid;
  if (uid.size() != 36) return "";
  for (size_t i = 0; i < uid.size(); i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (uid[i] == '-')) return "";
    if (!dash && !IsLowerHex(uid.substr(i, 1))) return "";
  }
  return uid;
}

bool IsUnit(std::string_view c) {
  for (std::string_view suffix : {".service", ".scope", ".socket", ".mount", ".swap"})
    if (c.size() > suffix.size() && c.ends_with(suffix)) return true;
  return false;
}

struct Container {
  std::string id, runtime;
};

// One path component naming a container's own cgroup, if it does.
std::optional<Container> ContainerOf(std::string_view c, std::string_view parent) {
  // containerd with the systemd driver on cgroup v1: "<pod slice>:cri-containerd:<id>".
  if (size_t colon = c.rfind(':'); colon != std::string_view::npos) {
    std::string_view id = c.substr(colon + 1);
    std::string_view head = c.substr(0, colon);
    if (!IsContainerId(id)) return std::nullopt;
    if (head.ends_with(":cri-containerd")) return Container{std::string(id), "containerd"};
    if (head.ends_with(":crio")) return Container{std::string(id), "crio"};
    if (head.ends_with(":docker")) return Container{std::string(id), "docker"};
    return std::nullopt;
  }
  std::string_view name = c;
  if (name.ends_with(".scope")) name.remove_suffix(std::strlen(".scope"));
  static constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
      {"docker-", "docker"}, {"cri-containerd-", "containerd"}, {"crio-", "crio"}, {"libpod-", "podman"}};
  for (auto [prefix, runtime] : kPrefixes) {
    // crio-conmon-<id> and libpod-conmon-<id> hold the runtime's monitor: the id is not 64 hex after the prefix.
    if (name.starts_with(prefix) && IsContainerId(name.substr(prefix.size())))
      return Container{std::string(name.substr(prefix.size())), std::string(runtime)};
  }
  // cgroupfs drivers: the bare id, under /docker/, /kubepods/<qos>/pod<uid>/, ...
  if (IsContainerId(name)) return Container{std::string(name), parent == "docker" ? "docker" : ""};
  return std::nullopt;
}

// The pod a path component names: "kubepods[-qos]-pod<uid>.slice" (systemd
// driver, possibly followed by ":runtime:id") or "pod<uid>" (cgroupfs driver).
std::string PodOf(std::string_view c) {
  c = c.substr(0, c.find(':'));
  if (c.starts_with("kubepods") && c.ends_with(".slice")) {
    size_t at = c.rfind("-pod");
    if (at == std::string_view::npos) return "";
    std::string_view raw = c.substr(at + 4, c.size() - at - 4 - std::strlen(".slice"));
    return PodUid(raw);
  }
  if (c.starts_with("pod")) return PodUid(c.substr(3));
  return "";
}

struct CgroupLine {
  std::string_view hierarchy, controllers, path;
};

std::vector<CgroupLine> SplitLines(std::string_view text) {
  std::vector<CgroupLine> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    lines.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return lines;
}

}  // namespace

CgroupLabels LabelsFromCgroupPath(std::string_view path) {
  CgroupLabels l;
  l.cgroup = std::string(path);
  std::string_view parent;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view c = path.substr(i, slash - i);
    i = slash + 1;
    if (c.empty()) continue;
    // The innermost match wins: a process in a nested container or a
    // delegated service subtree belongs to the deepest one.
    if (IsUnit(c)) l.systemd_unit = std::string(c);
    if (auto ctr = ContainerOf(c, parent)) {
      l.container_id = ctr->id;
      l.container_runtime = ctr->runtime;
    }
    if (std::string pod = PodOf(c); !pod.empty()) l.pod_uid = pod;
    parent = c;
  }
  return l;
}

CgroupLabels ParseProcCgroup(std::string_view text) {
  std::vector<CgroupLine> lines = SplitLines(text);
  if (lines.empty()) return {};
  // The cgroup: v2's line if there is one, else systemd's v1 hierarchy, else the first.
  auto rank = [](const CgroupLine& l) {
    if (l.hierarchy == "0" && l.controllers.empty()) return 0;
    if (l.controllers == "name=systemd") return 1;
    return 2;
  };
  std::stable_sort(lines.begin(), lines.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  CgroupLabels out = LabelsFromCgroupPath(lines[0].path);
  for (size_t k = 1; k < lines.size(); k++) {
    CgroupLabels more = LabelsFromCgroupPath(lines[k].path);
    if (out.systemd_unit.empty()) out.systemd_unit = more.systemd_unit;
    if (out.container_id.empty() && !more.container_id.empty()) {
      out.container_id = more.container_id;
      out.container_runtime = more.container_runtime;
    }
    if (out.pod_uid.empty()) out.pod_uid = more.pod_uid;
  }
  return out;
}

std::optional<CgroupLabels> ReadCgroupLabels(pid_t pid) {
  auto text = ReadProcFile(pid, "cgroup");
  if (!text) return std::nullopt;
  return ParseProcCgroup(*text);
}

}  // namespace goscope
