#!/usr/bin/env bash
# The README's first command: installs what is missing, builds goscope, starts
# the bundled demo Go service (tests/go/demo: leaks goroutines, grows its heap)
# and shows what goscope sees in it from the outside, with no change to it.
# Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${GOSCOPE_BUILD_DIR:-$root/build}
demo_seconds=${DEMO_SECONDS:-20}

[[ $EUID -eq 0 ]] || { echo "demo: run as root (it installs packages and loads BPF programs)" >&2; exit 1; }
scripts/install-deps.sh
echo "demo: building goscope in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target goscope

go=$(ls -d /usr/lib/go-1.*/bin/go | sort -V | tail -1)
echo "demo: building the demo service with $($go version | cut -d' ' -f3), stripped, as services ship"
mkdir -p "$build/demo"
(cd tests/go && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOCACHE="$build/demo/.gocache" \
  HOME=${HOME:-$build/demo} "$go" build -ldflags='-s -w' -o "$build/demo/demo-service" ./demo)

"$build/demo/demo-service" -duration "$((demo_seconds + 30))s" -status 0 >"$build/demo/demo.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 2
goscope="$build/user/goscope"

echo
echo "=== goscope info -p $pid   (what goscope reads from the stripped binary) ==="
"$goscope" info -p "$pid"
echo
echo "=== goscope probe-check -p $pid --duration 3   (every probe site, live) ==="
"$goscope" probe-check -p "$pid" --duration 3
