#!/usr/bin/env bash
# Symbolizer benchmark: time and memory to open a ~50 MB Go binary and Symbolize
# throughput once open (Google Benchmark, bench/symbolizer_bench.cc), then the CLI
# `goscope symbolize --stdin` side by side with Go's own addr2line on the same
# addresses. Figures and how to read them: bench/RESULTS.md.
#
#   scripts/bench-symbolizer.sh [BUILD_DIR]     (default: build-bench beside the sources)
#
# The target binary comes from Debian's archive without installing the package
# (apt-get download + dpkg-deb -x into BUILD_DIR/bench-target, so no daemon starts).
#
# Environment:
#   GOSCOPE_BENCH_BINARY   benchmark this binary instead of fetching one
#   BENCH_PACKAGE          Debian package whose usr/bin/NAME is the target (default: hugo,
#                          51 MiB, go1.19, cgo/externally linked, stripped); BENCH_PROGRAM
#                          names the program when it differs from the package name
#   BENCH_RUNS             repetitions; every figure is a median over them (default 5)
#   BENCH_PCS              addresses per set (default 100000)
#   BENCH_SETS             sets for the side-by-side (default "random uniform_text ret_by_func")
#   BENCH_SKIP_GBENCH=1    skip the Google Benchmark part (side-by-side only)
#   GOSCOPE_CLI            time this goscope executable instead of building BUILD_DIR/user/goscope
#   GOSCOPE_BENCH_DWARF_BINARY  binary for BM_ReadDwarfLayout; default: cmd/go built here
#                          with the newest Go toolchain (DWARF kept), cached in BUILD_DIR
#
# Output in BUILD_DIR/bench-out/: gbench.txt and gbench.json (Google Benchmark),
# gbench-summary.md, side-by-side.md, machine.txt, and the address sets in pcs/.
#
# The addr2line timed is the toolchain matching the binary's Go version (`go version
# BINARY`; else the newest), run as $(go env GOTOOLDIR)/addr2line: `go tool addr2line`
# does the same after starting the go command, whose start-up is timed separately.
# On externally linked binaries addr2line assumes runtime.text == the start of .text
# and so answers for PC + (runtime.text - .text); the accuracy check shifts its input
# by that much. Timing is not affected.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build-bench}
RUNS=${BENCH_RUNS:-5}
PCS=${BENCH_PCS:-100000}
SETS=${BENCH_SETS:-random uniform_text ret_by_func}
PACKAGE=${BENCH_PACKAGE:-hugo}
PROGRAM=${BENCH_PROGRAM:-$PACKAGE}

log() { echo "bench-symbolizer: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---- prerequisites ---------------------------------------------------------------
apt_updated=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "missing $*: apt-get install $* (as root)"
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq >&2 || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
dpkg -s libbenchmark-dev >/dev/null 2>&1 || apt_install libbenchmark-dev
[[ -x /usr/bin/time ]] || apt_install time
command -v python3 >/dev/null 2>&1 || apt_install python3

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench-out
TARGETS=$BUILD/bench-target
mkdir -p "$OUT/pcs" "$TARGETS"

GOSCOPE=${GOSCOPE_CLI:-$BUILD/user/goscope}
targets=(goscope_bench_symbolizer)
[[ -n ${GOSCOPE_CLI:-} ]] || targets+=(goscope)
log "building ${targets[*]} in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DGOSCOPE_BENCH=ON >"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" >>"$OUT/cmake.log" 2>&1 ||
  { tail -40 "$OUT/cmake.log" >&2; exit 1; }
GBENCH=$BUILD/bench/goscope_bench_symbolizer
[[ -x $GOSCOPE && -x $GBENCH ]] || die "build did not produce $GOSCOPE and $GBENCH"

# ---- Go toolchains (hermetic and offline, as scripts/build-test-binaries.sh) -----------
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off GOSUMDB=off
export GOCACHE=$TARGETS/.gocache XDG_CONFIG_HOME=$TARGETS/.config
[[ -n ${HOME:-} ]] || export HOME=$TARGETS/.home
mkdir -p "$GOCACHE" "$XDG_CONFIG_HOME" "$HOME"
NEWEST_GO=$(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -t. -k2 -n | tail -1 || true)
[[ -n $NEWEST_GO ]] || die "no Go toolchain in /usr/lib/go-1.*: apt-get install golang-go"

# ---- the target binary -------------------------------------------------------------
PKG_VERSION=""
if [[ -n ${GOSCOPE_BENCH_BINARY:-} ]]; then
  TARGET=$GOSCOPE_BENCH_BINARY
  PKG_VERSION=$(dpkg -S "$(readlink -f "$TARGET")" 2>/dev/null | cut -d: -f1 | head -1 |
                xargs -r dpkg-query -W -f='${Package} ${Version}' 2>/dev/null || true)
else
  dir=$TARGETS/$PACKAGE
  TARGET=$dir/usr/bin/$PROGRAM
  if [[ ! -x $TARGET ]]; then
    apt-cache show --no-all-versions "$PACKAGE" >/dev/null 2>&1 || { apt_updated=1; apt-get update -qq >&2 || true; }
    info=$(apt-cache show --no-all-versions "$PACKAGE" 2>/dev/null | grep -E '^(Version|Installed-Size):' | tr '\n' ' ')
    [[ -n $info ]] || die "package $PACKAGE not found by apt-cache (set GOSCOPE_BENCH_BINARY)"
    log "fetching $PACKAGE ($info) with apt-get download; not installing it"
    rm -rf "$dir" "$TARGETS"/"${PACKAGE}"_*.deb
    # apt's _apt user must be able to write the download directory.
    chmod 0777 "$TARGETS" 2>/dev/null || true
    (cd "$TARGETS" && apt-get download "$PACKAGE" >&2) || die "apt-get download $PACKAGE failed"
    deb=$(ls "$TARGETS"/"${PACKAGE}"_*.deb | head -1)
    dpkg-deb -x "$deb" "$dir"
    dpkg-deb -f "$deb" Version >"$dir/.version"
  fi
  [[ -x $TARGET ]] || die "$TARGET missing after extracting $PACKAGE (set BENCH_PROGRAM)"
  PKG_VERSION="$PACKAGE $(cat "$dir/.version" 2>/dev/null || echo '?')"
fi
[[ -f $TARGET ]] || die "$TARGET: no such file"
TARGET_GO=$("$NEWEST_GO" version "$TARGET" 2>/dev/null | awk '{print $NF}') || true
TARGET_SIZE=$(stat -c %s "$TARGET")
minor=$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$TARGET_GO")
GO=$NEWEST_GO
[[ -n $minor && -x /usr/lib/go-1.$minor/bin/go ]] && GO=/usr/lib/go-1.$minor/bin/go
ADDR2LINE=$("$GO" env GOTOOLDIR)/addr2line
[[ -x $ADDR2LINE ]] || die "$ADDR2LINE missing"
log "target $TARGET ($PKG_VERSION, $TARGET_SIZE bytes, $TARGET_GO); addr2line from $("$GO" version)"

# ---- a binary with DWARF for BM_ReadDwarfLayout ---------------------------------------
DWARF_BINARY=${GOSCOPE_BENCH_DWARF_BINARY:-}
if [[ -z $DWARF_BINARY ]]; then
  ver=$("$NEWEST_GO" env GOVERSION)
  DWARF_BINARY=$TARGETS/go-dwarf-$ver
  if [[ ! -x $DWARF_BINARY ]]; then
    log "building cmd/go with $ver (DWARF kept) for BM_ReadDwarfLayout"
    if (cd "$("$NEWEST_GO" env GOROOT)/src/cmd/go" && "$NEWEST_GO" build -o "$DWARF_BINARY.tmp" .) >&2; then
      mv "$DWARF_BINARY.tmp" "$DWARF_BINARY"
    else
      log "could not build it: BM_ReadDwarfLayout skipped"
      DWARF_BINARY=/nonexistent
    fi
  fi
fi

# ---- machine -------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "goscope: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') ($(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2))"
  echo "target: $TARGET ($PKG_VERSION, $TARGET_SIZE bytes, $TARGET_GO)"
  echo "dwarf target: $DWARF_BINARY"
  echo "cli: $GOSCOPE"
} | tee "$OUT/machine.txt" >&2

export GOSCOPE_BENCH_BINARY=$TARGET GOSCOPE_BENCH_DWARF_BINARY=$DWARF_BINARY GOSCOPE_BENCH_PCS=$PCS

# ---- Google Benchmark --------------------------------------------------------------------
if [[ ${BENCH_SKIP_GBENCH:-0} != 1 ]]; then
  log "running $GBENCH ($RUNS repetitions)"
  "$GBENCH" --benchmark_repetitions="$RUNS" --benchmark_report_aggregates_only=true \
    --benchmark_out="$OUT/gbench.json" --benchmark_out_format=json | tee "$OUT/gbench.txt"
  python3 - "$OUT/gbench.json" >"$OUT/gbench-summary.md" <<'EOF'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
med = [b for b in runs if b.get("aggregate_name") == "median"]
cv = {b["run_name"]: b for b in runs if b.get("aggregate_name") == "cv"}
skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations", "real_time",
        "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "family_index", "per_family_instance_index",
        "items_per_second", "label", "error_occurred", "error_message"}
print("| benchmark | median wall time | cv | PCs/s (median) | counters (median) |")
print("|---|---|---|---|---|")
for b in med:
    c = cv.get(b["run_name"], {})
    ips = b.get("items_per_second")
    counters = ", ".join(f"{k}={v:.4g}" for k, v in b.items() if k not in skip and isinstance(v, (int, float)))
    if b.get("label"):
        counters += f", label={b['label']}"
    cvs = f"{100 * c['real_time']:.1f}%" if "real_time" in c else ""
    print(f"| {b['run_name']} | {b['real_time']:.4g} {b['time_unit']} | {cvs} | "
          f"{(f'{ips / 1e6:.3f} M' if ips else '')} | {counters} |")
EOF
  cat "$OUT/gbench-summary.md"
fi

# ---- side by side with addr2line ---------------------------------------------------------
GOSCOPE_BENCH_DUMP_PCS=$OUT/pcs "$GBENCH" 2>/dev/null
# shellcheck disable=SC1091
source "$OUT/pcs/meta.env"
head -1 "$OUT/pcs/random.txt" >"$OUT/pcs/one.txt"

# measure NAME INPUT CMD...: one run, stdout to /dev/null; appends "wall_ms maxrss_kb" to
# $OUT/t.NAME. Wall time from the shell (ns clock), peak RSS from GNU time.
measure() {
  local name=$1 input=$2
  shift 2
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f %M -o "$OUT/rss.tmp" "$@" <"$input" >/dev/null
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 )) $(cat "$OUT/rss.tmp")" >>"$OUT/t.$name"
}
# rss_mib FILE: median peak RSS in MiB
rss_mib() { awk '{print $2}' "$1" | sort -n | awk '{v[NR]=$1} END {printf "%d", v[int((NR+1)/2)] / 1024}'; }
# calc EXPR: floating-point arithmetic (awk; bc is not always installed)
calc() { awk "BEGIN {print $1}"; }
# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

rm -f "$OUT"/t.*
log "side by side: $RUNS runs of each, interleaved, on $PCS addresses per set"
for ((r = 1; r <= RUNS; r++)); do
  measure gs_one "$OUT/pcs/one.txt" "$GOSCOPE" symbolize "$TARGET" --stdin
  measure a2l_one "$OUT/pcs/one.txt" "$ADDR2LINE" "$TARGET"
  measure gotool_one "$OUT/pcs/one.txt" "$GO" tool addr2line "$TARGET"
  for pcset in $SETS; do
    measure "gs_$pcset" "$OUT/pcs/$pcset.txt" "$GOSCOPE" symbolize "$TARGET" --stdin
    measure "a2l_$pcset" "$OUT/pcs/$pcset.txt" "$ADDR2LINE" "$TARGET"
  done
  measure gs_json_random "$OUT/pcs/random.txt" "$GOSCOPE" symbolize --json "$TARGET" --stdin
done

{
  echo "Side by side on $(basename "$TARGET") ($PKG_VERSION, $TARGET_GO), $PCS addresses per set, median of $RUNS runs."
  echo "addr2line: $ADDR2LINE ($("$GO" env GOVERSION)). Wall time includes process start and opening the binary."
  echo
  echo "| addresses | goscope wall | addr2line wall | time ratio goscope/addr2line | goscope PCs/s (end to end / after start-up) | addr2line PCs/s (end to end / after start-up) | goscope peak RSS | addr2line peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  gs1=$(median "$OUT/t.gs_one" 1)
  a1=$(median "$OUT/t.a2l_one" 1)
  printf '| 1 (start-up + open) | %.1f ms | %.1f ms | %.2f | | | %d MiB | %d MiB |\n' \
    "$(calc "$gs1/1000")" "$(calc "$a1/1000")" "$(calc "$gs1/$a1")" \
    "$(rss_mib "$OUT/t.gs_one")" "$(rss_mib "$OUT/t.a2l_one")"
  for pcset in $SETS; do
    g=$(median "$OUT/t.gs_$pcset" 1)
    a=$(median "$OUT/t.a2l_$pcset" 1)
    rate() { awk -v n="$PCS" -v t="$1" -v t1="$2" 'BEGIN {
      e = n / (t / 1e6); printf "%.2f M / ", e / 1e6;
      if (t > 1.5 * t1) printf "%.2f M", n / ((t - t1) / 1e6) / 1e6; else printf "n/a (start-up dominates)" }'; }
    printf '| %s | %.1f ms | %.1f ms | %.2f | %s | %s | %d MiB | %d MiB |\n' "$pcset" \
      "$(calc "$g/1000")" "$(calc "$a/1000")" "$(calc "$g/$a")" "$(rate "$g" "$gs1")" "$(rate "$a" "$a1")" \
      "$(rss_mib "$OUT/t.gs_${pcset}")" "$(rss_mib "$OUT/t.a2l_$pcset")"
  done
  j=$(median "$OUT/t.gs_json_random" 1)
  printf '\ngoscope symbolize --json on random: %.1f ms, peak RSS %d MiB.\n' "$(calc "$j/1000")" \
    "$(rss_mib "$OUT/t.gs_json_random")"
  printf '`go tool addr2line` (through the go command) on 1 address: %.1f ms.\n' \
    "$(calc "$(median "$OUT/t.gotool_one" 1)/1000")"
} >"$OUT/side-by-side.md"

# ---- accuracy cross-check on the random set ---------------------------------------------
# goscope's innermost file:line and outermost function against addr2line's, with
# addr2line's input shifted by runtime.text - .text (0 for internally linked binaries).
shift_by=$(( RUNTIME_TEXT - TEXT_SECTION ))
while read -r a; do printf '%#x\n' $(( a - shift_by )); done <"$OUT/pcs/random.txt" >"$OUT/pcs/random.shifted.txt"
"$ADDR2LINE" "$TARGET" <"$OUT/pcs/random.shifted.txt" >"$OUT/a2l.shifted.out"
"$ADDR2LINE" "$TARGET" <"$OUT/pcs/random.txt" >"$OUT/a2l.unshifted.out"
"$GOSCOPE" symbolize --json "$TARGET" --stdin <"$OUT/pcs/random.txt" >"$OUT/goscope.random.json"
python3 - "$OUT/goscope.random.json" "$OUT/a2l.shifted.out" "$OUT/a2l.unshifted.out" "$shift_by" \
  >>"$OUT/side-by-side.md" <<'EOF'
import json, sys
gs = json.load(open(sys.argv[1]))
def a2l(path):
    lines = open(path).read().split("\n")
    return [(lines[i], lines[i + 1]) for i in range(0, len(gs) * 2, 2)]
def agree(answers):
    n = 0
    for g, (fn, fl) in zip(gs, answers):
        fr = g["frames"]
        if not fr:
            n += fn == "?"
            continue
        inner = f"{fr[0]['file']}:{fr[0]['line']}"
        n += fn == fr[-1]["function"] and fl == inner
    return n
shift = int(sys.argv[4])
print(f"\nAgreement on random (addr2line's function == goscope's outermost frame and its file:line == "
      f"goscope's innermost): {agree(a2l(sys.argv[2]))} of {len(gs)} with addr2line's input shifted by "
      f"{shift:#x} (runtime.text - .text); {agree(a2l(sys.argv[3]))} of {len(gs)} unshifted.")
EOF
cat "$OUT/side-by-side.md"
log "results in $OUT"
