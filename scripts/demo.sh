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
"$goscope" info -p "$pid" | sed -n '1,8p;/^verdict/,$p'
echo
echo "=== goscope goroutines -p $pid --group   (every goroutine now, from memory, no probes) ==="
"$goscope" goroutines -p "$pid" --group | head -40
echo
out=$build/demo/attach
echo "=== goscope attach -p $pid --duration $demo_seconds -o $out   (uprobes: goroutines, heap, GC) ==="
"$goscope" attach -p "$pid" --duration "$demo_seconds" --interval 5 -o "$out"
echo
echo "=== $out/leaks.txt ==="
head -60 "$out/leaks.txt"
echo
echo "=== $out/summary.json (excerpt) ==="
grep -E '"(goroutines_created|goroutines_exited|goroutines_live|events_lost|gc_cycles|alloc_samples|memprofilerate_written|memprofilerate_restored)"' "$out/summary.json"
echo
echo "=== go tool pprof -top $out/heap.pb.gz   (what allocated during the run, in-use at its end) ==="
"$go" tool pprof -top -sample_index=alloc_space "$out/heap.pb.gz" 2>/dev/null | head -14
echo
echo "Also written: $out/goroutines.pb.gz (go tool pprof), $out/timeline.json (open in Perfetto or chrome://tracing)"
