// Where a process runs, from its cgroup: the labels the node agent puts on
// every profile and metric (systemd unit, container, Kubernetes pod), read
// from /proc/PID/cgroup with no call to a container runtime or the API server.
//
// Path shapes recognised (cgroup v2 "0::PATH", v1 "N:controllers:PATH"):
//   /system.slice/nginx.service                                 unit nginx.service
//   /user.slice/user-1000.slice/user@1000.service/app.slice/x.service   unit x.service
//   /user.slice/user-1000.slice/session-4.scope                 unit session-4.scope
//   /system.slice/docker-<64 hex>.scope, /docker/<64 hex>       docker container
//   .../cri-containerd-<64 hex>.scope, ...slice:cri-containerd:<64 hex>   containerd
//   .../crio-<64 hex>.scope, /kubepods/.../crio-<64 hex>        CRI-O
//   .../libpod-<64 hex>.scope, /libpod_parent/libpod-<64 hex>   podman
//   kubepods-burstable-pod<uid_with_underscores>.slice, /kubepods/besteffort/pod<uid>/<id>   pod uid
// Runtimes' monitor scopes (crio-conmon-<id>.scope, libpod-conmon-<id>.scope)
// are not the container. The agent must see the host's cgroup namespace: from
// inside a private one, paths of other containers read as "/../../..." and
// lose the components named above.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace goscope {

struct CgroupLabels {
  std::string cgroup;             // the v2 path; without one (v1 only), name=systemd's, else the first line's
  std::string systemd_unit;       // innermost .service/.scope/.socket/.mount/.swap unit, "" if none
  std::string container_id;       // 64 lowercase hex, "" if not in a container
  std::string container_runtime;  // "docker", "containerd", "crio", "podman"; "" where the path does not say
                                  // (a bare id under /kubepods/ with the cgroupfs driver)
  std::string pod_uid;            // Kubernetes pod UID (dashed UUID, or 32 hex for static pods), "" if none
};

// Labels from one cgroup path.
CgroupLabels LabelsFromCgroupPath(std::string_view path);

// Labels from the text of a /proc/PID/cgroup file. On hybrid hosts (v1 and
// v2 both mounted) the v2 line is the cgroup, and container and pod are
// taken from whichever line names them (v1 controllers often do, while the
// v2 line reads "0::/").
CgroupLabels ParseProcCgroup(std::string_view text);

// /proc/PID/cgroup of a live process; nullopt if it is gone. Throws Error on
// other read failures.
std::optional<CgroupLabels> ReadCgroupLabels(pid_t pid);

}  // namespace goscope
