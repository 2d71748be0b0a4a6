#!/usr/bin/env bash
# Installs everything goscope needs to build, run and test on Debian 12 (bookworm).
# Idempotent: safe to run again; it only adds what is missing.
#
#   scripts/install-deps.sh           build, run and test
#   scripts/install-deps.sh --bench   also what the benchmarks load and measure with:
#                                     caddy (its service stopped and disabled), ab, wrk
#
#   bookworm            compiler, cmake, elfutils, fmt, capstone, CLI11, libmicrohttpd, gtest, go1.19
#   bookworm-backports  libbpf >= 1.4, bpftool, go1.21, go1.22, go1.23
#   trixie (pinned low) go1.24 only; nothing else is upgraded from it
#   trixie-backports (pinned low) go1.25, go1.26, go1.27, asked for by name only
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

add_suite() { # name suite
  local file=/etc/apt/sources.list.d/goscope-$1.sources
  [[ -f $file ]] && return 0
  cat >"$file" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $2
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  NEED_UPDATE=1
}

NEED_UPDATE=0
add_suite backports bookworm-backports
add_suite trixie trixie
add_suite trixie-backports trixie-backports
pin_low() { # suite: never take anything from it unless asked for by name with -t SUITE
  local pin=/etc/apt/preferences.d/goscope-$1
  [[ -f $pin ]] && return 0
  printf 'Package: *\nPin: release n=%s\nPin-Priority: 50\n' "$1" >"$pin"
  NEED_UPDATE=1
}
pin_low trixie
pin_low trixie-backports
stamp=/var/lib/apt/periodic/goscope-update-stamp
if [[ $NEED_UPDATE == 1 || ! -f $stamp ]]; then
  apt-get update -qq
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi

apt_install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

echo "install-deps: build tools and libraries"
apt_install build-essential cmake pkg-config git ca-certificates \
  clang llvm libclang-rt-14-dev \
  libelf-dev libdw-dev zlib1g-dev libfmt-dev libcapstone-dev nlohmann-json3-dev libcli11-dev \
  libmicrohttpd-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  binutils procps psmisc curl util-linux libxml2-utils

echo "install-deps: libbpf and bpftool from bookworm-backports"
apt_install -t bookworm-backports libbpf-dev bpftool

echo "install-deps: Go toolchains 1.19 (bookworm), 1.21-1.23 (backports), 1.24 (trixie), 1.25-1.27 (trixie-backports)"
apt_install golang-1.19-go
apt_install -t bookworm-backports golang-1.21-go golang-1.22-go golang-1.23-go
apt_install -t trixie golang-1.24-go
apt_install -t trixie-backports golang-1.25-go golang-1.26-go golang-1.27-go

echo "install-deps: real Go programs from Debian to test against"
apt_install restic

echo "install-deps: prometheus (promtool checks the agent's /metrics page; the server scrapes it)"
apt_install prometheus

if [[ ${1:-} == --bench ]]; then
  echo "install-deps: benchmark tools: caddy (a real Go server, go1.19), ab and wrk (load)"
  apt_install caddy apache2-utils wrk
  # The package starts a web server on port 80; the benchmarks start their own.
  if command -v systemctl >/dev/null && systemctl is-enabled caddy >/dev/null 2>&1; then
    systemctl disable --now caddy >/dev/null 2>&1 || true
  fi
fi

echo "install-deps: done"
