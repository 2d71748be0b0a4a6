#!/usr/bin/env bash
# Heap-profiling overhead: what `goscope heap` costs a Go program, measured untraced vs
# traced, interleaved in the same run, as ratios. Figures and how to read them:
# bench/RESULTS.md ("Heap profiling overhead").
#
#   scripts/bench-heap.sh [BUILD_DIR]     (default: build beside the sources)
#
# Parts (Go programs in bench/go, stdlib only; neither imports runtime/pprof, so both run
# with runtime.MemProfileRate 0 and sampled mode writes --heap-rate 524288 into it: the
# production case):
#   alloc   bench/go/allocloop: one goroutine allocating a 64-byte []byte and a small
#           struct per iteration, kept alive briefly; one process per toolchain; every
#           SIGUSR1 starts a BENCH_ALLOC_SECONDS window and the program prints
#           allocations/s. Each round runs, in an order rotated per round, windows:
#             none     untraced (MemProfileRate 0: Go's sampler off)
#             gosampler  untraced, Go's own sampler on at 524288 (SIGUSR2: the program
#                      sets MemProfileRate itself, and puts 0 back after)
#             sampled  under `goscope heap -p PID` (Go's sampler, rate 524288 written):
#                      against gosampler, what goscope adds beyond Go's own sampler
#             empty    under `goscope probe-check -p PID`: a counting BPF program (one map
#                      increment) at every site `goscope info` lists, runtime.mallocgc among
#                      them: the cost of the uprobe trap itself at the same site
#             exact    under `goscope heap -p PID --alloc-mode exact` (runtime.mallocgc,
#                      stack + size class counted in the kernel)
#           Per-allocation added cost of a mode = 1/rate(mode) - 1/rate(none) of the same
#           round; the exact/empty ratio is the cost of goscope's BPF program relative to the
#           bare trap. Caveat: probe-check also probes the other sites (goroutine creation,
#           GC); in this loop they fire about 1 time per 10^4 mallocgc hits (hit counts are
#           recorded).
#   http    bench/go/httpserver "/" (1 KiB body allocated per request) under wrk with
#           keep-alive, untraced vs `goscope heap -p PID` sampled (heap only: `goscope
#           attach` would add goroutine tracing). Server pinned to CPU 0 (GOMAXPROCS=1,
#           saturated), wrk pinned to CPU 1, goscope free; 127.0.0.1 only.
# Traced = a fresh goscope whose "probes live" line on stderr is awaited before the window
# or the load starts; it is ended with SIGINT afterwards (probe-check: by its --duration).
# The program's CPU seconds over each window (/proc/PID/stat, all threads; the kernel
# charges uprobe handling to the thread that hit the probe) give CPU per allocation or per
# request, a second measure less sensitive to other load on the machine.
#
# Environment:
#   BENCH_ROUNDS          rounds (default 5); figures are medians over them
#   BENCH_GO_VERSIONS     toolchains for the alloc part (default "1.24 1.19" where
#                         installed; go1.19's mallocgc site is single-stepped)
#   BENCH_HTTP_GO         toolchains for the http part (default: the first of BENCH_GO_VERSIONS)
#   BENCH_PARTS           subset of "alloc http" (default both)
#   BENCH_ALLOC_SECONDS   allocation window (default 3)
#   BENCH_ALLOC_DEPTH     frames the allocation loop runs below main (allocloop -depth; default 0:
#                         ~7 frames in all; real programs allocate 10-30 deep, which exact mode walks)
#   BENCH_ALLOC_MODES     subset of "none gosampler sampled empty exact" (default all; none always runs)
#   BENCH_HTTP_SECONDS    wrk duration per HTTP run (default 8)
#   BENCH_WRK_THREADS / BENCH_WRK_CONNECTIONS   (default 1 / 32)
#   BENCH_BPF_STATS=1     switch the kernel's BPF run-time accounting on for the run (and back
#                         off): each traced window's notes then give goscope's programs'
#                         mean run time and run count (the accounting adds ~20-40 ns a run)
#   GOSCOPE_CLI           goscope executable (default BUILD_DIR/user/goscope, built if missing)
#
# Output in BUILD_DIR/bench-out/: heap.md (tables and machine), heap.tsv (every window),
# and BUILD_DIR/bench-heap/ (binaries, program and goscope logs, profiles).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${BENCH_ROUNDS:-5}
PARTS=${BENCH_PARTS:-alloc http}
ALLOC_SECONDS=${BENCH_ALLOC_SECONDS:-3}
ALLOC_DEPTH=${BENCH_ALLOC_DEPTH:-0}
read -r -a ALLOC_MODES <<<"${BENCH_ALLOC_MODES:-none gosampler sampled empty exact}"
[[ " ${ALLOC_MODES[*]} " == *" none "* ]] || ALLOC_MODES=(none "${ALLOC_MODES[@]}")
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-8}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}

log() { echo "bench-heap: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---- prerequisites ---------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "needs root (uprobes)"
apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq >&2 || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v python3 >/dev/null 2>&1 || apt_install python3
command -v taskset >/dev/null 2>&1 || apt_install util-linux

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench-out
WORK=$BUILD/bench-heap
mkdir -p "$OUT" "$WORK/bin" "$WORK/runs"
GOSCOPE=${GOSCOPE_CLI:-$BUILD/user/goscope}
if [[ ! -x $GOSCOPE ]]; then
  log "building goscope in $BUILD"
  if ! { cmake -S "$ROOT" -B "$BUILD" >"$OUT/heap-cmake.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" --target goscope >>"$OUT/heap-cmake.log" 2>&1; }; then
    tail -40 "$OUT/heap-cmake.log" >&2
    exit 1
  fi
fi

# ---- Go programs (hermetic and offline, as scripts/build-test-binaries.sh) ---------------
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off GOSUMDB=off
export GOCACHE=$WORK/.gocache XDG_CONFIG_HOME=$WORK/.config
[[ -n ${HOME:-} ]] || export HOME=$WORK/.home
mkdir -p "$GOCACHE" "$XDG_CONFIG_HOME" "$HOME"
if [[ -z ${BENCH_GO_VERSIONS:-} ]]; then
  BENCH_GO_VERSIONS=""
  for v in 1.24 1.19; do [[ -x /usr/lib/go-$v/bin/go ]] && BENCH_GO_VERSIONS+="$v "; done
fi
[[ -n ${BENCH_GO_VERSIONS// /} ]] || die "no Go toolchain in /usr/lib/go-1.*: apt-get install golang-go"
read -r -a GO_VERSIONS <<<"$BENCH_GO_VERSIONS"
read -r -a HTTP_GO <<<"${BENCH_HTTP_GO:-${GO_VERSIONS[0]}}"
declare -A GOVER
for v in "${GO_VERSIONS[@]}" "${HTTP_GO[@]}"; do
  [[ -n ${GOVER[$v]:-} ]] && continue
  go=/usr/lib/go-$v/bin/go
  [[ -x $go ]] || die "$go missing"
  mkdir -p "$WORK/bin/$v"
  for prog in allocloop httpserver; do
    (cd "$ROOT/bench/go" && "$go" build -o "$WORK/bin/$v/$prog" "./$prog") || die "go$v build $prog failed"
  done
  GOVER[$v]=$("$go" env GOVERSION)
  log "built bench/go/{allocloop,httpserver} with ${GOVER[$v]}"
done

# ---- helpers -------------------------------------------------------------------------------
# wait_for FILE REGEX SECONDS
wait_for() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# cpu_seconds PID: CPU of all the process's live threads, to the nanosecond (their
# schedstat; /proc/PID/stat counts 10 ms ticks, which a tracer's few ms a window fall between)
cpu_seconds() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.4f", ns / 1e9}'
}
# field LINE KEY: the value of KEY=VALUE in LINE
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }

TSV=$OUT/heap.tsv
printf 'go\tpart\tround\tmode\tvalue\tunit\twork\ttarget_cpu_s\tseconds\tinfo\tgoscope_cpu_s\n' >"$TSV"
# record GO PART ROUND MODE VALUE UNIT WORK TARGET_CPU SECONDS INFO
record() {
  local IFS=$'\t'
  echo "$*" >>"$TSV"
  log "$1 $2 round $3 $4: $5 $6, $7 done, target cpu $8 s${10:+ (${10})}"
}

# tracer_start MODE PID LOGBASE BOUND: starts goscope in MODE, waits until its probes are
# live; sets TRACER_PID.
tracer_start() {
  local mode=$1 pid=$2 base=$3 bound=$4
  case $mode in
    sampled) "$GOSCOPE" heap -p "$pid" --duration "$bound" -o "$base.pb.gz" >"$base.out" 2>"$base.log" & ;;
    exact) "$GOSCOPE" heap -p "$pid" --alloc-mode exact --duration "$bound" -o "$base.pb.gz" >"$base.out" 2>"$base.log" & ;;
    empty) "$GOSCOPE" probe-check -p "$pid" --duration "$bound" >"$base.out" 2>"$base.log" & ;;
    *) die "mode $mode?" ;;
  esac
  TRACER_PID=$!
  wait_for "$base.log" 'probes live' 30 || die "goscope $mode did not attach: $(tail -3 "$base.log")"
  TRACER_CPU0=$(cpu_seconds "$TRACER_PID")
}
# tracer_stop MODE LOGBASE: ends the tracer, sets TRACER_INFO
tracer_stop() {
  local mode=$1 base=$2
  # goscope's own CPU from its probes going live to the end of the window (exit excluded)
  TRACER_CPU=$(awk -v a="$(cpu_seconds "$TRACER_PID")" -v b="$TRACER_CPU0" 'BEGIN {printf "%.4f", a - b}')
  local bpf=""
  [[ ${BENCH_BPF_STATS:-0} != 1 ]] || bpf=$(bpf_run_times)
  [[ $mode == empty ]] || kill -INT "$TRACER_PID" 2>/dev/null || true
  wait "$TRACER_PID" || die "goscope $mode failed: $(tail -3 "$base.log")"
  case $mode in
    sampled) TRACER_INFO=$(grep -oE '[0-9]+ sampled allocations' "$base.log") ;;
    exact) TRACER_INFO=$(grep -oE '[0-9]+ allocations counted exactly' "$base.log") ;;
    empty) TRACER_INFO="mallocgc hits $(awk '$1 == "malloc" {print $3}' "$base.out"), other sites $(awk 'NR > 1 && $1 != "malloc" {n += $3} END {print n + 0}' "$base.out")" ;;
  esac
  TRACER_INFO+="${bpf:+; bpf: $bpf}"
}
# bpf_run_times: "PROG N ns x RUNS, ..." for the programs that ran (kernel.bpf_stats_enabled=1)
bpf_run_times() {
  bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
out = []
for p in json.load(sys.stdin):
    name, runs = p.get("name", ""), p.get("run_cnt", 0)
    if runs and name.startswith("on_"):
        out.append("%s %.0f ns x %d" % (name, p["run_time_ns"] / runs, runs))
print(", ".join(out))'
}

# ---- machine -------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "goscope: $GOSCOPE, tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "go: $(for v in "${!GOVER[@]}"; do printf '%s ' "${GOVER[$v]}"; done)"
  echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?'), -t$WRK_THREADS -c$WRK_CONNECTIONS -d${HTTP_SECONDS}s, keep-alive, pinned to CPU 1; httpserver pinned to CPU 0"
  echo "rounds: $ROUNDS; alloc window ${ALLOC_SECONDS}s, allocloop -depth $ALLOC_DEPTH"
} | tee "$OUT/heap-machine.txt" >&2

cleanup() {
  local p
  for p in ${CHILDREN:-}; do kill "$p" 2>/dev/null || true; done
  [[ ${BENCH_BPF_STATS:-0} != 1 ]] || sysctl -q kernel.bpf_stats_enabled=0
}
trap cleanup EXIT
CHILDREN=""
[[ ${BENCH_BPF_STATS:-0} != 1 ]] || sysctl -q kernel.bpf_stats_enabled=1 || die "cannot switch kernel.bpf_stats_enabled on"

# ---- alloc part ----------------------------------------------------------------------------
alloc_part() {
  local gv=$1
  local dir=$WORK/runs/$gv
  mkdir -p "$dir"
  local plog=$dir/allocloop.out
  "$WORK/bin/$gv/allocloop" -d "$ALLOC_SECONDS" -depth "$ALLOC_DEPTH" >"$plog" 2>&1 &
  local pid=$!
  CHILDREN+=" $pid"
  wait_for "$plog" '^ready ' 30 || die "allocloop did not start: $(cat "$plog")"
  local n=0
  # window SIGNAL: starts a window, waits for the n-th window line; sets W_LINE, W_CPU
  window() {
    n=$((n + 1))
    local c0
    c0=$(cpu_seconds "$pid")
    kill "-$1" "$pid"
    wait_for "$plog" "^window n=$n " $((ALLOC_SECONDS + 60)) || die "allocloop window $n did not end"
    W_CPU=$(awk -v a="$(cpu_seconds "$pid")" -v b="$c0" 'BEGIN {printf "%.4f", a - b}')
    W_LINE=$(grep "^window n=$n " "$plog")
  }
  window USR1 # warm-up, not recorded
  local k=${#ALLOC_MODES[@]} r i m
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < k; i++)); do
      m=${ALLOC_MODES[$(((i + r - 1) % k))]}
      TRACER_INFO="" TRACER_CPU=""
      case $m in
        none) window USR1 ;;
        gosampler) window USR2 ;;
        *)
          tracer_start "$m" "$pid" "$dir/alloc-$m-$r" $((ALLOC_SECONDS + 2))
          window USR1
          tracer_stop "$m" "$dir/alloc-$m-$r"
          ;;
      esac
      # Go's sampler runs in sampled and gosampler windows only: elsewhere the rate is 0
      # (what goscope restored after its window)
      [[ $m == sampled || $m == gosampler || $(field "$W_LINE" memprofilerate) == 0 ]] ||
        log "warning: MemProfileRate $(field "$W_LINE" memprofilerate) at the end of a $m window"
      record "$gv" alloc "$r" "$m" "$(field "$W_LINE" allocs_per_sec)" allocs/s "$(field "$W_LINE" allocs)" "$W_CPU" \
        "$(field "$W_LINE" secs)" "$TRACER_INFO" "$TRACER_CPU"
    done
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# ---- http part ---------------------------------------------------------------------------
http_part() {
  local gv=$1
  local dir=$WORK/runs/$gv
  mkdir -p "$dir"
  local slog=$dir/httpserver.out
  taskset -c 0 "$WORK/bin/$gv/httpserver" -addr 127.0.0.1:0 -size 1024 >"$slog" 2>&1 &
  local pid=$!
  CHILDREN+=" $pid"
  wait_for "$slog" '^ready ' 30 || die "httpserver did not start: $(cat "$slog")"
  local addr
  addr=$(field "$(grep '^ready ' "$slog")" addr)
  [[ $addr == 127.0.0.1:* ]] || die "httpserver is not on loopback: $addr"
  taskset -c 1 wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d2s "http://$addr/" >/dev/null # warm-up
  local r i m order
  for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(none sampled); else order=(sampled none); fi
    for m in "${order[@]}"; do
      TRACER_INFO="" TRACER_CPU=""
      local base=$dir/http-$m-$r
      [[ $m == none ]] || tracer_start "$m" "$pid" "$base" $((HTTP_SECONDS + 30))
      local c0 c1
      c0=$(cpu_seconds "$pid")
      taskset -c 1 wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${HTTP_SECONDS}s" "http://$addr/" >"$base.wrk" 2>&1 ||
        die "wrk failed: $(cat "$base.wrk")"
      c1=$(cpu_seconds "$pid")
      [[ $m == none ]] || tracer_stop "$m" "$base"
      local rps requests secs errors
      rps=$(awk '/^Requests\/sec:/ {print $2}' "$base.wrk")
      requests=$(awk '/ requests in / {print $1}' "$base.wrk")
      secs=$(awk '/ requests in / {sub(/s,$/, "", $4); print $4}' "$base.wrk")
      errors=$(awk '/Socket errors:|Non-2xx/ {n++} END {print n + 0}' "$base.wrk")
      [[ -n $rps ]] || die "no Requests/sec in $base.wrk"
      ((errors == 0)) || TRACER_INFO+="${TRACER_INFO:+, }wrk reported errors"
      record "$gv" http "$r" "$m" "$rps" req/s "$requests" "$(awk -v a="$c1" -v b="$c0" 'BEGIN {printf "%.4f", a - b}')" \
        "$secs" "$TRACER_INFO" "$TRACER_CPU"
    done
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for part in $PARTS; do
  case $part in
    alloc) for v in "${GO_VERSIONS[@]}"; do alloc_part "$v"; done ;;
    http) for v in "${HTTP_GO[@]}"; do http_part "$v"; done ;;
    *) die "unknown part $part" ;;
  esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/heap-machine.txt"

# ---- summary -------------------------------------------------------------------------------
python3 - "$TSV" "$OUT/heap-machine.txt" >"$OUT/heap.md" <<'EOF'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = st.median
print("Machine and run:\n\n```\n" + open(sys.argv[2]).read().strip() + "\n```\n")
by = {}
for r in rows:
    by.setdefault((r["go"], r["part"], int(r["round"])), {})[r["mode"]] = r
gos = sorted({r["go"] for r in rows}, key=lambda v: [-int(x) for x in v.split(".")])
def rate(r): return float(r["value"])
def cpu_per(r): return float(r["target_cpu_s"]) * 1e9 / float(r["work"])  # ns per unit
if any(r["part"] == "alloc" for r in rows):
    print("### Allocation loop (bench/go/allocloop), throughput ratios traced/untraced\n")
    print("Per round: ratio = rate(mode) / rate(untraced) of the same round; added = 1/rate(mode) - 1/rate(untraced) "
          "(ns per allocation, wall); CPU = the program's CPU ns per allocation (all threads, GC included). "
          "Medians over rounds.\n")
    print("| Go | mode | allocs/s (median) | ratio to untraced | added ns/alloc (wall) | CPU ns/alloc | added CPU ns/alloc | CPU/alloc ratio to untraced | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for g in gos:
        rounds = [v for (gg, p, _), v in sorted(by.items()) if gg == g and p == "alloc"]
        if not rounds: continue
        for m in ["none", "gosampler", "sampled", "empty", "exact"]:
            rs = [x for x in rounds if m in x and "none" in x]
            if not rs: continue
            ratio = med([rate(x[m]) / rate(x["none"]) for x in rs])
            added = med([1e9 / rate(x[m]) - 1e9 / rate(x["none"]) for x in rs])
            cpu = med([cpu_per(x[m]) for x in rs])
            addcpu = med([cpu_per(x[m]) - cpu_per(x["none"]) for x in rs])
            cpuratio = med([cpu_per(x[m]) / cpu_per(x["none"]) for x in rs])
            summary[(g, m)] = (added, addcpu, rs)
            note = rs[-1][m]["info"]
            name = {"none": "untraced", "gosampler": "untraced, Go's own sampler on (rate 524288)", "sampled": "sampled (`goscope heap`)", "empty": "empty uprobe (`probe-check`)",
                    "exact": "exact (`goscope heap --alloc-mode exact`)"}[m]
            print(f"| {g} | {name} | {med([rate(x[m]) for x in rs]) / 1e6:.2f} M | "
                  + ("" if m == "none" else f"{ratio:.3f} ({(1 - ratio) * 100:+.1f}% cost)".replace("+-", "-").replace("(+", "(").replace("(-", "(-"))
                  + f" | {'' if m == 'none' else f'{added:.0f}'} | {cpu:.1f} | {'' if m == 'none' else f'{addcpu:.0f}'} | "
                  + f"{'' if m == 'none' else f'{cpuratio:.3f}'} | {note} |")
    print()
    sampled_pairs = any(p == "alloc" and "sampled" in v and "gosampler" in v for (_, p, _), v in by.items())
    if sampled_pairs:
      print("Sampled mode against Go's own sampler at the same rate (untraced, the program sets MemProfileRate "
          "itself): what goscope adds beyond it. Per round: throughput ratio gosampler/sampled - 1 (wall), and "
          "CPU ratio (the program's CPU per allocation plus goscope's own CPU over the window, divided by the "
          "program's CPU per allocation under Go's sampler alone) - 1. Medians over rounds.\n")
      print("| Go | allocs/s Go's sampler / goscope sampled (medians) | cost beyond Go's sampler, wall | the same, CPU (goscope's own counted) | goscope's own CPU (% of the window) | target ≤ 1% |")
      print("|---|---|---|---|---|---|")
    for g in gos:
        rs = [v for (gg, p, _), v in sorted(by.items()) if gg == g and p == "alloc" and "sampled" in v and "gosampler" in v]
        if not rs: continue
        wall = med([rate(x["gosampler"]) / rate(x["sampled"]) - 1 for x in rs])
        def total(x): return (float(x["sampled"]["target_cpu_s"]) + float(x["sampled"]["goscope_cpu_s"] or 0)) * 1e9 / float(x["sampled"]["work"])
        cpu = med([total(x) / cpu_per(x["gosampler"]) - 1 for x in rs])
        own = med([float(x["sampled"]["goscope_cpu_s"] or 0) / float(x["sampled"]["seconds"]) for x in rs])
        verdict = "met" if max(wall, cpu) <= 0.01 else "**missed**"
        print(f"| {g} | {med([rate(x['gosampler']) for x in rs]) / 1e6:.2f} M / {med([rate(x['sampled']) for x in rs]) / 1e6:.2f} M | "
              f"{wall * 100:+.1f}% | {cpu * 100:+.1f}% | {own * 100:.2f}% | {verdict} |")
    if sampled_pairs: print()
    pairs = [g for g in gos if (g, "exact") in summary and (g, "empty") in summary]
    if pairs:
        print("Exact mode against the empty uprobe at the same site (added cost per allocation):\n")
        print("| Go | empty uprobe added ns/alloc (wall / CPU) | exact added ns/alloc (wall / CPU) | exact/empty (ratio of medians, wall / CPU) | exact/empty (median of per-round ratios, wall) | target ≤ 1.2 |")
        print("|---|---|---|---|---|---|")
    for g in pairs:
        ew, ec, rs = summary[(g, "empty")]
        xw, xc, _ = summary[(g, "exact")]
        per = med([(1 / rate(x["exact"]) - 1 / rate(x["none"])) / (1 / rate(x["empty"]) - 1 / rate(x["none"])) for x in rs])
        verdict = "met" if xw / ew <= 1.2 else "**missed**"
        print(f"| {g} | {ew:.0f} / {ec:.0f} | {xw:.0f} / {xc:.0f} | {xw / ew:.2f} / {xc / ec:.2f} | {per:.2f} | {verdict} |")
    if pairs: print()
if any(r["part"] == "http" for r in rows):
    print("### net/http server under wrk (bench/go/httpserver \"/\", keep-alive), untraced vs `goscope heap` sampled\n")
    print("| Go | untraced req/s | sampled req/s | ratio (median of per-round) | cost | CPU µs/request untraced / sampled (median of per-round ratios) | target < 2% | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for g in gos:
        rs = [v for (gg, p, _), v in sorted(by.items()) if gg == g and p == "http" and "none" in v and "sampled" in v]
        if not rs: continue
        ratio = med([rate(x["sampled"]) / rate(x["none"]) for x in rs])
        cost = (1 - ratio) * 100
        print(f"| {g} | {med([rate(x['none']) for x in rs]):.0f} | {med([rate(x['sampled']) for x in rs]):.0f} | {ratio:.3f} | "
              f"{cost:.1f}% | {med([cpu_per(x['none']) for x in rs]) / 1e3:.1f} / {med([cpu_per(x['sampled']) for x in rs]) / 1e3:.1f} "
              f"({med([cpu_per(x['sampled']) / cpu_per(x['none']) for x in rs]):.3f}) | "
              f"{'met' if cost < 2 else '**missed**'} | {rs[-1]['sampled']['info']} |")
        print()
        print("Per round (req/s untraced, sampled): " + "; ".join(f"{rate(x['none']):.0f}, {rate(x['sampled']):.0f}" for x in rs))
    print()
EOF
cat "$OUT/heap.md"
log "results in $OUT/heap.md"
