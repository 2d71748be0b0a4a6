// Cgroup paths as systemd, Docker, containerd, CRI-O, podman and the kubelet
// write them, turned into labels; then real processes: our own, a child, and
// a child moved into a real cgroup v2 directory named like a Kubernetes
// container's.
#include "process/cgroup_labels.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "child.h"

namespace goscope {
namespace {

const std::string kId = "3f1c2b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kUid = "6a1c7a5e-2a1f-4b3c-9d4e-0f1e2d3c4b5a";
const std::string kUidUnderscored = "6a1c7a5e_2a1f_4b3c_9d4e_0f1e2d3c4b5a";
const std::string kStaticUid = "3d3f8a1ca3f65a8e13e6e6c8f5fa0ed8";

struct PathCase {
  std::string path;
  std::string unit, container, runtime, pod;
};

TEST(CgroupLabels, RealWorldPathShapes) {
  const PathCase cases[] = {
      {"/", "", "", "", ""},
      {"/system.slice/nginx.service", "nginx.service", "", "", ""},
      {"/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service", "", "", ""},
      {"/init.scope", "init.scope", "", "", ""},
      {"/user.slice/user-1000.slice/session-4.scope", "session-4.scope", "", "", ""},
      {"/user.slice/user-1000.slice/user@1000.service", "user@1000.service", "", "", ""},
      {"/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-2304.scope",
       "app-gnome-firefox-2304.scope", "", "", ""},
      {"/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service", "syncthing.service", "", "", ""},
      {"/system.slice/dbus.socket", "dbus.socket", "", "", ""},
      // A service that delegates its subtree: still that unit.
      {"/system.slice/buildkitd.service/worker/job-17", "buildkitd.service", "", "", ""},
      // Docker: systemd driver, cgroupfs driver, docker in docker.
      {"/system.slice/docker-" + kId + ".scope", "docker-" + kId + ".scope", kId, "docker", ""},
      {"/docker/" + kId, "", kId, "docker", ""},
      {"/docker/" + kId + "/docker/" + kId2, "", kId2, "docker", ""},
      // Kubernetes, systemd cgroup driver (v2 and v1), every QoS class.
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored + ".slice/cri-containerd-" +
           kId + ".scope",
       "cri-containerd-" + kId + ".scope", kId, "containerd", kUid},
      {"/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-" + kId + ".scope", "crio-" + kId + ".scope",
       kId, "crio", kUid},
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscored + ".slice/docker-" + kId +
           ".scope",
       "docker-" + kId + ".scope", kId, "docker", kUid},
      // CRI-O's monitor of the container is in the pod, not the container.
      {"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscored + ".slice/crio-conmon-" +
           kId + ".scope",
       "crio-conmon-" + kId + ".scope", "", "", kUid},
      // The pod's own slice (a pause process on some runtimes).
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored + ".slice", "", "", "",
       kUid},
      // Static pods: the kubelet uses the manifest's hash as UID.
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kStaticUid + ".slice/cri-containerd-" + kId +
           ".scope",
       "cri-containerd-" + kId + ".scope", kId, "containerd", kStaticUid},
      // containerd with the systemd driver on cgroup v1.
      {"/system.slice/containerd.service/kubepods-burstable-pod" + kUidUnderscored + ".slice:cri-containerd:" + kId,
       "containerd.service", kId, "containerd", kUid},
      // Kubernetes, cgroupfs driver: the runtime is not in the path.
      {"/kubepods/burstable/pod" + kUid + "/" + kId, "", kId, "", kUid},
      {"/kubepods/pod" + kUid + "/" + kId, "", kId, "", kUid},
      {"/kubepods/besteffort/pod" + kUid + "/crio-" + kId, "", kId, "crio", kUid},
      // Podman: systemd (rootful and rootless, with the container's own subgroup) and cgroupfs.
      {"/machine.slice/libpod-" + kId + ".scope", "libpod-" + kId + ".scope", kId, "podman", ""},
      {"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope/container",
       "libpod-" + kId + ".scope", kId, "podman", ""},
      {"/machine.slice/libpod-conmon-" + kId + ".scope", "libpod-conmon-" + kId + ".scope", "", "", ""},
      {"/libpod_parent/libpod-" + kId, "", kId, "podman", ""},
      // Seen from a private cgroup namespace: the components still name the pod and container.
      {"/../../kubepods-besteffort-pod" + kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope",
       "cri-containerd-" + kId + ".scope", kId, "containerd", kUid},
      // Near misses: short or upper-case ids, bad UIDs, slices.
      {"/system.slice/docker-3f1c2b0a9e8d.scope", "docker-3f1c2b0a9e8d.scope", "", "", ""},
      {"/docker/3F1C2B0A9E8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B3A2F1E0D9C8B7A6F5E4D3C2B", "", "", "", ""},
      {"/kubepods.slice/kubepods-burstable.slice", "", "", "", ""},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnot_a_uid.slice", "", "", "", ""},
      {"/kubepods/burstable/pod" + kUid.substr(1) + "/x", "", "", "", ""},
      {"/process_api/178df7e73bf571847be12824b0714d31", "", "", "", ""},
      {"/system.slice", "", "", "", ""},
      {"/.service", "", "", "", ""},
  };
  for (const auto& c : cases) {
    CgroupLabels l = LabelsFromCgroupPath(c.path);
    EXPECT_EQ(l.cgroup, c.path);
    EXPECT_EQ(l.systemd_unit, c.unit) << c.path;
    EXPECT_EQ(l.container_id, c.container) << c.path;
    EXPECT_EQ(l.container_runtime, c.runtime) << c.path;
    EXPECT_EQ(l.pod_uid, c.pod) << c.path;
  }
}

TEST(CgroupLabels, ProcCgroupFileShapes) {
  // cgroup v2 only.
  CgroupLabels v2 = ParseProcCgroup("0::/system.slice/nginx.service\n");
  EXPECT_EQ(v2.cgroup, "/system.slice/nginx.service");
  EXPECT_EQ(v2.systemd_unit, "nginx.service");

  // Hybrid (this machine's shape): v2 line is the cgroup, even when it is "/".
  CgroupLabels hybrid = ParseProcCgroup(
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/178df7e73bf571847be12824b0714d31\n1:cpu:/\n0::/\n");
  EXPECT_EQ(hybrid.cgroup, "/");
  EXPECT_EQ(hybrid.systemd_unit, "");
  EXPECT_EQ(hybrid.container_id, "");

  // Docker on cgroup v1 with the cgroupfs driver: v2 says "/", the controllers name the container.
  CgroupLabels docker = ParseProcCgroup(
      fmt::format("12:pids:/docker/{0}\n11:memory:/docker/{0}\n1:name=systemd:/docker/{0}\n0::/\n", kId));
  EXPECT_EQ(docker.cgroup, "/");
  EXPECT_EQ(docker.container_id, kId);
  EXPECT_EQ(docker.container_runtime, "docker");

  // v1 only: name=systemd is the cgroup, wherever it is in the file.
  CgroupLabels v1 = ParseProcCgroup(
      "4:memory:/system.slice/foo.service\n2:cpu,cpuacct:/\n1:name=systemd:/system.slice/foo.service\n");
  EXPECT_EQ(v1.cgroup, "/system.slice/foo.service");
  EXPECT_EQ(v1.systemd_unit, "foo.service");

  // v1 without a systemd hierarchy: the first line.
  CgroupLabels bare = ParseProcCgroup(fmt::format("3:cpuset:/kubepods/pod{}/{}\n2:cpu:/\n", kUid, kId));
  EXPECT_EQ(bare.cgroup, fmt::format("/kubepods/pod{}/{}", kUid, kId));
  EXPECT_EQ(bare.pod_uid, kUid);
  EXPECT_EQ(bare.container_id, kId);

  // Paths may hold ':' (containerd's v1 systemd form).
  CgroupLabels colon = ParseProcCgroup(fmt::format(
      "0::/system.slice/containerd.service/kubepods-pod{}.slice:cri-containerd:{}\n", kUidUnderscored, kId));
  EXPECT_EQ(colon.container_id, kId);
  EXPECT_EQ(colon.pod_uid, kUid);

  CgroupLabels empty = ParseProcCgroup("");
  EXPECT_EQ(empty.cgroup, "");
  CgroupLabels junk = ParseProcCgroup("garbage\nno colon here\n0::/a.service");
  EXPECT_EQ(junk.cgroup, "/a.service");
  EXPECT_EQ(junk.systemd_unit, "a.service");
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string V2Line(const std::string& proc_cgroup) {
  std::istringstream in(proc_cgroup);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

// The caller kills and reaps it (KillAndReap).
pid_t SpawnSleep() {
  testing::Child c({"/bin/sleep", "30"}, {.in = testing::Io::kInherit, .out = testing::Io::kInherit,
                                          .err = testing::Io::kInherit, .env = std::vector<std::string>{}});
  return c.started() && !c.exec_error() ? c.Release() : -1;
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(CgroupLabels, OwnProcessAndChild) {
  std::string text = Slurp("/proc/self/cgroup");
  ASSERT_FALSE(text.empty());
  auto mine = ReadCgroupLabels(getpid());
  ASSERT_TRUE(mine);
  CgroupLabels parsed = ParseProcCgroup(text);
  EXPECT_EQ(mine->cgroup, parsed.cgroup);
  EXPECT_EQ(mine->systemd_unit, parsed.systemd_unit);
  EXPECT_EQ(mine->container_id, parsed.container_id);
  if (text.find("0::") != std::string::npos) {
    EXPECT_EQ(mine->cgroup, V2Line(text));
  }
  std::printf("[ this process ] cgroup=%s unit=%s container=%s pod=%s\n", mine->cgroup.c_str(),
              mine->systemd_unit.c_str(), mine->container_id.c_str(), mine->pod_uid.c_str());

  pid_t child = SpawnSleep();
  ASSERT_GT(child, 0);
  auto theirs = ReadCgroupLabels(child);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->cgroup, mine->cgroup);  // a child starts in its parent's cgroup
  KillAndReap(child);
  EXPECT_FALSE(ReadCgroupLabels(child));
}

// Where cgroup v2 is mounted ("" if it is not).
std::string CgroupV2Mount() {
  std::istringstream in(Slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(line);
    std::string id, parent, devno, root, mount;
    f >> id >> parent >> devno >> root >> mount;
    return mount;
  }
  return "";
}

TEST(CgroupLabels, ProcessInARealKubernetesShapedCgroup) {
  std::string mount = CgroupV2Mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup v2 mount";
  std::string own = V2Line(Slurp("/proc/self/cgroup"));
  std::string top = fmt::format("{}{}/goscope-test-{}", mount, own == "/" ? "" : own, getpid());
  std::vector<std::string> dirs = {
      top,
      top + "/kubepods.slice",
      top + "/kubepods.slice/kubepods-burstable.slice",
      top + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored + ".slice",
      top + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored +
          ".slice/cri-containerd-" + kId + ".scope",
  };
  for (const auto& d : dirs) {
    if (mkdir(d.c_str(), 0755) != 0) {
      int err = errno;
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) rmdir(it->c_str());
      GTEST_SKIP() << "cannot create a cgroup (" << d << "): " << std::strerror(err);
    }
  }
  pid_t child = SpawnSleep();
  ASSERT_GT(child, 0);
  bool moved = false;
  {
    std::ofstream procs(dirs.back() + "/cgroup.procs");
    procs << child << std::flush;
    moved = procs.good();
  }
  std::optional<CgroupLabels> l;
  if (moved) l = ReadCgroupLabels(child);
  KillAndReap(child);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
    EXPECT_EQ(rmdir(it->c_str()), 0) << *it << ": " << std::strerror(errno);
  if (!moved) GTEST_SKIP() << "cannot move a process into " << dirs.back();

  ASSERT_TRUE(l);
  std::string rel = dirs.back().substr(mount.size());
  EXPECT_EQ(l->cgroup, rel);
  EXPECT_EQ(l->container_id, kId);
  EXPECT_EQ(l->container_runtime, "containerd");
  EXPECT_EQ(l->pod_uid, kUid);
  EXPECT_EQ(l->systemd_unit, "cri-containerd-" + kId + ".scope");
}

}  // namespace
}  // namespace goscope
