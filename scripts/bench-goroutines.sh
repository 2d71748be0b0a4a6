#!/usr/bin/env bash
# Goroutine-tracing overhead: what `goscope attach` costs a Go program that creates
# goroutines, measured as throughput untraced vs traced, interleaved in the same run.
# Figures and how to read them: bench/RESULTS.md ("Goroutine tracing overhead").
#
#   scripts/bench-goroutines.sh [BUILD_DIR]     (default: build beside the sources)
#
# Workloads (Go programs in bench/go, stdlib only):
#   churn        bench/go/churn: create 100 goroutines, wait for them, repeat, for
#                BENCH_CHURN_SECONDS; goroutines/s as the program reports it. GOMAXPROCS=2,
#                nothing pinned: goscope's own user-space CPU competes with the target,
#                as it would on a busy 2-core host.
#   churn-1cpu   the same pinned to CPU 0 (so GOMAXPROCS=1) with goscope pinned to CPU 1:
#                only the in-process cost of the probes (trap + BPF program) remains.
#   http-keepalive  bench/go/httpserver "/" (1 KiB body, allocated per request) under wrk
#                with keep-alive: net/http runs one goroutine per connection, so almost no
#                goroutines are created per request (the common production case).
#   http-spawn   "/spawn": the handler builds the body in a new goroutine and waits for it
#                on a channel: one goroutine created and destroyed per request.
#   http-close   "/" with wrk -H "Connection: close": a new connection, hence a new
#                connection goroutine, per request.
# HTTP: one server per toolchain for all rounds, pinned to CPU 0 (GOMAXPROCS=1, so it is
# saturated), wrk -t2 -c50 pinned to CPU 1, goscope not pinned; BENCH_PIN=0 pins nothing.
# wrk runs BENCH_HTTP_SECONDS per measurement on 127.0.0.1 only.
#
# Each round runs every workload untraced and traced back to back, alternating which goes
# first (AB, BA, AB, ...) so that drift on a shared machine falls on both. Traced = a fresh
# `goscope attach -p PID --duration BOUND -o DIR` whose "probes live" line on stderr is
# awaited (plus 0.5 s, also waited untraced) before the load starts, and which is ended
# with SIGINT once the load is over. Its summary.json gives goroutines created/exited and
# events_lost, reported per traced run. CPU times over the measured interval (of the Go
# program and of goscope) come from /proc/PID/stat: the program's CPU per goroutine or per
# request, untraced vs traced, is the cost of the probes with the machine's noise taken out
# (the kernel charges uprobe handling to the thread that hit the probe).
#
# Environment:
#   BENCH_ROUNDS          rounds (default 5); figures are medians over them
#   BENCH_GO_VERSIONS     toolchains, e.g. "1.24 1.19" (default: the newest installed);
#                         go1.19's exit probe (runtime.goexit1 entry) is single-stepped
#   BENCH_WORKLOADS       subset of "churn churn-1cpu http-keepalive http-spawn http-close"
#   BENCH_CHURN_SECONDS   measured loop per churn run (default 5)
#   BENCH_HTTP_SECONDS    wrk duration per HTTP run (default 10)
#   BENCH_WRK_THREADS / BENCH_WRK_CONNECTIONS   (default 2 / 50)
#   BENCH_PIN=0           do not pin server and wrk
#   BENCH_COUNTING=1      churn-1cpu also runs, each round, under `goscope probe-check` (a
#                         counting BPF program at every probe site `goscope info` lists: per
#                         goroutine newproc1, the CALL runqput, gdestroy and mallocgc, 4 hits):
#                         the cost of a uprobe hit itself, apart from goscope's BPF program
#   BENCH_ATTACH_ARGS     extra `goscope attach` arguments (default "--alloc-mode off" where
#                         attach has that option: goroutine tracing and GC events, no heap
#                         profiling; set it to "" to measure attach's defaults)
#   GOSCOPE_CLI           goscope executable (default BUILD_DIR/user/goscope, built if missing)
#
# Output in BUILD_DIR/bench-out/: goroutines.md (tables and machine), goroutines.tsv
# (every run), and BUILD_DIR/bench-goroutines/ (binaries, program and goscope logs, each
# traced run's goscope output directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${BENCH_ROUNDS:-5}
WORKLOADS=${BENCH_WORKLOADS:-churn churn-1cpu http-keepalive http-spawn http-close}
CHURN_SECONDS=${BENCH_CHURN_SECONDS:-5}
HTTP_SECONDS=${BENCH_HTTP_SECONDS:-10}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-50}
PIN=${BENCH_PIN:-1}
COUNTING=${BENCH_COUNTING:-0}

log() { echo "bench-goroutines: $*" >&2; }
die() {
  log "$*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (goscope attach loads BPF programs)"
[[ $(nproc) -ge 2 || $PIN == 0 ]] || die "pinning needs 2 CPUs: set BENCH_PIN=0"

# ---- prerequisites ---------------------------------------------------------------
apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq >&2 || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v taskset >/dev/null 2>&1 || apt_install util-linux
command -v python3 >/dev/null 2>&1 || apt_install python3

mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench-out
WORK=$BUILD/bench-goroutines
mkdir -p "$OUT" "$WORK"

GOSCOPE=${GOSCOPE_CLI:-$BUILD/user/goscope}
if [[ ! -x $GOSCOPE ]]; then
  [[ -z ${GOSCOPE_CLI:-} ]] || die "$GOSCOPE: not executable"
  log "building goscope in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log" >&2; exit 1; }
  cmake --build "$BUILD" -j"$(nproc)" --target goscope >>"$WORK/cmake.log" 2>&1 ||
    { tail -40 "$WORK/cmake.log" >&2; exit 1; }
fi

if [[ -v BENCH_ATTACH_ARGS ]]; then
  ATTACH_ARGS=$BENCH_ATTACH_ARGS
elif "$GOSCOPE" attach --help | grep -q -- --alloc-mode; then
  ATTACH_ARGS="--alloc-mode off"
else
  ATTACH_ARGS=""
fi

# ---- Go programs (hermetic and offline, as scripts/build-test-binaries.sh) -------------
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off GOSUMDB=off
export GOCACHE=$WORK/.gocache XDG_CONFIG_HOME=$WORK/.config
[[ -n ${HOME:-} ]] || export HOME=$WORK/.home
mkdir -p "$GOCACHE" "$XDG_CONFIG_HOME" "$HOME"
unset GOMAXPROCS GOGC GODEBUG 2>/dev/null || true
GO_VERSIONS=${BENCH_GO_VERSIONS:-$(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sed -n 's|.*/go-\(1\.[0-9]*\)/bin/go|\1|p' |
                                   sort -t. -k2 -n | tail -1)}
[[ -n $GO_VERSIONS ]] || die "no Go toolchain in /usr/lib/go-1.*: apt-get install golang-go"
declare -A GOVER
for v in $GO_VERSIONS; do
  go=/usr/lib/go-$v/bin/go
  [[ -x $go ]] || die "$go: not installed"
  GOVER[$v]=$("$go" env GOVERSION)
  mkdir -p "$WORK/bin/${GOVER[$v]}"
  for prog in churn httpserver; do
    (cd "$ROOT/bench/go" && "$go" build -o "$WORK/bin/${GOVER[$v]}/$prog" "./$prog") ||
      die "building bench/go/$prog with ${GOVER[$v]} failed"
  done
  log "built bench/go/{churn,httpserver} with ${GOVER[$v]}"
done

# ---- process helpers ---------------------------------------------------------------------
# Every process started here is remembered and ended by its pid on exit.
STARTED=()
cleanup() {
  local p
  for p in "${STARTED[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN SECONDS: until a line of FILE matches PATTERN
wait_for() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# field FILE KEY: the value of KEY=VALUE on the last line of FILE that has it
field() { grep -oE "(^| )$2=[^ ]+" "$1" | tail -1 | cut -d= -f2; }
# cpu_seconds PID: user + system CPU time so far
CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() { awk -v hz="$CLK_TCK" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
calc() { awk "BEGIN {printf \"%.3f\", $1}"; }
pin() { if [[ $PIN == 1 ]]; then echo "taskset -c $1"; fi; }

# attach_start PID DIR [CPU]: starts goscope attach on PID, waits until its probes are
# live; sets ATTACH_PID, ATTACH_CPU0.
attach_start() {
  local pinning=""
  if [[ -n ${3:-} ]]; then pinning="taskset -c $3"; fi
  rm -rf "$2"
  # shellcheck disable=SC2086 # ATTACH_ARGS is a list of words
  $pinning "$GOSCOPE" attach -p "$1" --duration $((HTTP_SECONDS + CHURN_SECONDS + 120)) -o "$2" $ATTACH_ARGS 2>"$2.log" &
  ATTACH_PID=$!
  STARTED+=("$ATTACH_PID")
  wait_for "$2.log" "probes live" 30 || { cat "$2.log" >&2; die "goscope attach did not go live"; }
  ATTACH_CPU0=$(cpu_seconds "$ATTACH_PID")
}
# attach_stop DIR: ends the attach run (SIGINT), sets ATTACH_CPUS to the CPU it used while
# the load ran, and the counts from its summary.json.
attach_stop() {
  ATTACH_CPUS=$(awk -v a="$(cpu_seconds "$ATTACH_PID")" -v b="$ATTACH_CPU0" 'BEGIN {printf "%.2f", a - b}')
  kill -INT "$ATTACH_PID"
  wait "$ATTACH_PID" || die "goscope attach failed: $(tail -3 "$1.log")"
  read -r CREATED EXITED LOST < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["goroutines_created"], s["goroutines_exited"], s["events_lost"])' "$1/summary.json")
}

TSV=$OUT/goroutines.tsv
printf 'go\tworkload\tround\tmode\tvalue\tunit\twork\tsocket_errors\tcreated\texited\tevents_lost\tgoscope_cpu_s\tseconds\ttarget_cpu_s\tprobe_hits\n' >"$TSV"
# record GO WORKLOAD ROUND MODE VALUE UNIT WORK SOCKET_ERRORS CREATED EXITED LOST GOSCOPE_CPU SECONDS TARGET_CPU HITS
# (WORK: goroutines or requests done in the measured interval; TARGET_CPU: the Go program's
# user + system CPU seconds over it, uprobe handling included, as the kernel charges it to
# the thread that hit the probe)
record() {
  local IFS=$'\t'
  echo "$*" >>"$TSV"
  log "$1 $2 round $3 $4: $5 $6, target cpu ${14}s${9:+ (created $9, exited ${10}, lost ${11}, goscope cpu ${12}s)}"
}

# ---- churn -------------------------------------------------------------------------------
# churn_run GOVERSION WORKLOAD ROUND MODE
churn_run() {
  local gv=$1 wl=$2 round=$3 mode=$4 dir=$WORK/runs/$1/$2-$3-$4
  local pinning="" gpin=""
  if [[ $wl == churn-1cpu ]]; then pinning="taskset -c 0"; gpin=1; fi
  mkdir -p "$(dirname "$dir")"
  $pinning "$WORK/bin/$gv/churn" -duration "${CHURN_SECONDS}s" -wait-signal -linger >"$dir.out" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  wait_for "$dir.out" '^ready ' 30 || die "churn did not start: $(cat "$dir.out")"
  local counter=""
  if [[ $mode == traced ]]; then attach_start "$pid" "$dir.goscope" "$gpin"; fi
  if [[ $mode == counting ]]; then
    taskset -c 1 "$GOSCOPE" probe-check -p "$pid" --duration $((CHURN_SECONDS + 2)) >"$dir.hits" 2>&1 &
    counter=$!
    STARTED+=("$counter")
    wait_for "$dir.hits" "probes live" 30 || die "goscope probe-check did not go live: $(cat "$dir.hits")"
  fi
  sleep 0.5
  local cpu0 cpu1
  cpu0=$(cpu_seconds "$pid")
  kill -USR1 "$pid"
  wait_for "$dir.out" '^result ' $((CHURN_SECONDS + 60)) || die "churn gave no result: $(cat "$dir.out")"
  cpu1=$(cpu_seconds "$pid")
  CREATED="" EXITED="" LOST="" ATTACH_CPUS=""
  if [[ $mode == traced ]]; then attach_stop "$dir.goscope"; fi
  HITS=""
  if [[ -n $counter ]]; then
    wait "$counter" || die "goscope probe-check failed: $(tail -3 "$dir.hits")"
    HITS=$(awk '$3 ~ /^[0-9]+$/ {n += $3} END {print n + 0}' "$dir.hits")
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  record "$gv" "$wl" "$round" "$mode" "$(field "$dir.out" goroutines_per_sec)" goroutines/s \
    "$(field "$dir.out" goroutines)" "" "$CREATED" "$EXITED" "$LOST" "$ATTACH_CPUS" "$(field "$dir.out" seconds)" \
    "$(calc "$cpu1 - $cpu0")" "$HITS"
}

# ---- HTTP --------------------------------------------------------------------------------
SERVER_PID="" SERVER_ADDR=""
server_start() {
  local gv=$1 log=$WORK/runs/$1/httpserver.out
  mkdir -p "$(dirname "$log")"
  $(pin 0) "$WORK/bin/$gv/httpserver" -addr 127.0.0.1:0 -size 1024 >"$log" 2>&1 &
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
  wait_for "$log" '^ready ' 30 || die "httpserver did not start: $(cat "$log")"
  SERVER_ADDR=$(field "$log" addr)
  [[ $SERVER_ADDR == 127.0.0.1:* ]] || die "httpserver is not on loopback: $SERVER_ADDR"
  # warm-up, not measured: every handler, both connection kinds
  for path in / /spawn; do $(pin 1) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d2s "http://$SERVER_ADDR$path" >/dev/null; done
  $(pin 1) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d2s -H "Connection: close" "http://$SERVER_ADDR/" >/dev/null
}
server_stop() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
}
# http_run GOVERSION WORKLOAD ROUND MODE
http_run() {
  local gv=$1 wl=$2 round=$3 mode=$4 dir=$WORK/runs/$1/$2-$3-$4
  local args=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${HTTP_SECONDS}s")
  local url=http://$SERVER_ADDR/
  case $wl in
    http-spawn) url=http://$SERVER_ADDR/spawn ;;
    http-close) args+=(-H "Connection: close") ;;
  esac
  CREATED="" EXITED="" LOST="" ATTACH_CPUS=""
  if [[ $mode == traced ]]; then attach_start "$SERVER_PID" "$dir.goscope"; fi
  sleep 0.5
  local cpu0 cpu1
  cpu0=$(cpu_seconds "$SERVER_PID")
  $(pin 1) wrk "${args[@]}" "$url" >"$dir.wrk" 2>&1 || die "wrk failed: $(cat "$dir.wrk")"
  cpu1=$(cpu_seconds "$SERVER_PID")
  if [[ $mode == traced ]]; then attach_stop "$dir.goscope"; fi
  local rps requests secs errors non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$dir.wrk")
  requests=$(awk '/ requests in / {print $1}' "$dir.wrk")
  secs=$(awk '/ requests in / {sub(/s,$/, "", $4); print $4}' "$dir.wrk")
  errors=$(awk '/Socket errors:/ {n = 0; for (i = 3; i <= NF; i += 2) n += $(i + 1) + 0; print n}' "$dir.wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir.wrk")
  [[ -n $rps ]] || die "no Requests/sec in $dir.wrk"
  record "$gv" "$wl" "$round" "$mode" "$rps" requests/s "$requests" "$((${errors:-0} + ${non2xx:-0}))" \
    "$CREATED" "$EXITED" "$LOST" "$ATTACH_CPUS" "$secs" "$(calc "$cpu1 - $cpu0")" ""
}

# ---- machine -----------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "goscope: $GOSCOPE, sha256 $(sha256sum "$GOSCOPE" | cut -c1-12), sources at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "traced: goscope attach -p PID --duration BOUND -o DIR${ATTACH_ARGS:+ $ATTACH_ARGS}"
  echo "go: $(for v in $GO_VERSIONS; do printf '%s ' "${GOVER[$v]}"; done)"
  echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?'), -t$WRK_THREADS -c$WRK_CONNECTIONS -d${HTTP_SECONDS}s"
  echo "pinning: $([[ $PIN == 1 ]] && echo 'httpserver on CPU 0, wrk on CPU 1, goscope free (churn-1cpu: churn on CPU 0, goscope on CPU 1)' || echo 'none (churn-1cpu still pinned)')"
  echo "rounds: $ROUNDS, churn ${CHURN_SECONDS}s per run"
} | tee "$WORK/machine.txt" >&2

# ---- the runs ------------------------------------------------------------------------------
for v in $GO_VERSIONS; do
  gv=${GOVER[$v]}
  rm -rf "$WORK/runs/$gv"
  if [[ $WORKLOADS == *http* ]]; then server_start "$gv"; fi
  for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(untraced traced); else order=(traced untraced); fi
    for wl in $WORKLOADS; do
      for mode in "${order[@]}"; do
        case $wl in
          churn | churn-1cpu) churn_run "$gv" "$wl" "$r" "$mode" ;;
          http-*) http_run "$gv" "$wl" "$r" "$mode" ;;
          *) die "unknown workload $wl" ;;
        esac
      done
      if [[ $COUNTING == 1 && $wl == churn-1cpu ]]; then churn_run "$gv" "$wl" "$r" counting; fi
    done
  done
  if [[ $WORKLOADS == *http* ]]; then server_stop; fi
done
echo "end load: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/machine.txt"

# ---- summary -------------------------------------------------------------------------------
python3 - "$TSV" "$WORK/machine.txt" >"$OUT/goroutines.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
machine = open(sys.argv[2]).read().strip().splitlines()
med = statistics.median
def si(x):
    return f"{x / 1e6:.3f} M" if x >= 1e6 else f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"
keys = []
for r in rows:
    if (r["go"], r["workload"]) not in keys:
        keys.append((r["go"], r["workload"]))
def runs(go, wl, mode):
    return sorted((r for r in rows if r["go"] == go and r["workload"] == wl and r["mode"] == mode),
                  key=lambda r: int(r["round"]))
def per_work(go, wl):
    # goroutines per unit of work from goscope's count: a lower bound when events were lost
    if wl.startswith("churn"):
        return 1.0
    v = [float(r["created"]) / float(r["work"]) for r in runs(go, wl, "traced") if r["created"] and float(r["work"])]
    return med(v) if v else None

print("Goroutine tracing overhead (scripts/bench-goroutines.sh)\n")
for line in machine:
    print(f"- {line}")
print()
print("Throughput, median of the rounds (churn: goroutines/s as the program reports it; http: wrk requests/s).\n")
print("| Go | workload | untraced | traced | ratio traced/untraced | paired ratios min..max "
      "| paired ratio, saturated rounds | goroutines per request | per traced run: goroutines created / events lost |")
print("|---|---|---|---|---|---|---|---|---|")
for go, wl in keys:
    u, t = runs(go, wl, "untraced"), runs(go, wl, "traced")
    mu, mt = med(float(r["value"]) for r in u), med(float(r["value"]) for r in t)
    ub = {r["round"]: float(r["value"]) for r in u}
    paired = [float(r["value"]) / ub[r["round"]] for r in t if r["round"] in ub]
    # rounds where the program had its CPU to itself in both runs (>= 0.95 of a core busy; only
    # meaningful when pinned to one CPU): the machine's other tenants did not take a share
    util = lambda r: float(r["target_cpu_s"]) / float(r["seconds"])
    uu = {r["round"]: r for r in u}
    sat = [float(r["value"]) / float(uu[r["round"]]["value"]) for r in t
           if r["round"] in uu and util(r) >= 0.95 and util(uu[r["round"]]) >= 0.95]
    sats = f"{med(sat):.3f} (n={len(sat)})" if sat and wl != "churn" else ""
    pw = per_work(go, wl)
    pws = f"{pw:.2f}" if pw is not None and not wl.startswith("churn") else ""
    counts = "; ".join(f"{si(float(r['created']))} / {si(float(r['events_lost']))}" for r in t if r["created"])
    print(f"| {go} | {wl} | {si(mu)}/s | {si(mt)}/s | **{mt / mu:.3f}** | {min(paired):.3f}..{max(paired):.3f} "
          f"| {sats} | {pws} | {counts} |")
print()
print("CPU time of the traced program per unit of work (goroutine or request), median of the rounds: "
      "the kernel charges uprobe handling and the BPF program to the thread that hit the probe, so this is "
      "the tracing cost without the machine's noise in wall time. goscope's own CPU is separate.\n")
print("| Go | workload | untraced CPU/unit | traced CPU/unit | ratio | added CPU per goroutine created "
      "| goscope CPU per traced run (median) | program CPU use untraced (cores) |")
print("|---|---|---|---|---|---|---|---|")
for go, wl in keys:
    u, t = runs(go, wl, "untraced"), runs(go, wl, "traced")
    cu = med(float(r["target_cpu_s"]) / float(r["work"]) for r in u) * 1e9
    ct = med(float(r["target_cpu_s"]) / float(r["work"]) for r in t) * 1e9
    pw = per_work(go, wl)
    added = f"{(ct - cu) / pw:.0f} ns" if pw and pw > 0.05 else ""
    gcpu = med(float(r["goscope_cpu_s"]) for r in t if r["goscope_cpu_s"])
    util = med(float(r["target_cpu_s"]) / float(r["seconds"]) for r in u)
    print(f"| {go} | {wl} | {cu:.0f} ns | {ct:.0f} ns | {ct / cu:.3f} | {added} | {gcpu:.2f} s | {util:.2f} |")
counting = [k for k in keys if runs(*k, "counting")]
if counting:
    print()
    print("Cost of a bare uprobe hit (BENCH_COUNTING=1): the same churn under `goscope probe-check`, whose BPF "
          "program only counts, at every site `goscope info` lists.\n")
    print("| Go | workload | untraced CPU/goroutine | counting CPU/goroutine | probe hits per goroutine "
          "| added CPU per hit | goroutine tracing (above): added CPU per goroutine |")
    print("|---|---|---|---|---|---|---|")
    for go, wl in counting:
        u, c, t = runs(go, wl, "untraced"), runs(go, wl, "counting"), runs(go, wl, "traced")
        cu = med(float(r["target_cpu_s"]) / float(r["work"]) for r in u) * 1e9
        cc = med(float(r["target_cpu_s"]) / float(r["work"]) for r in c) * 1e9
        hits = med(float(r["probe_hits"]) / float(r["work"]) for r in c)
        ct = med(float(r["target_cpu_s"]) / float(r["work"]) for r in t) * 1e9 if t else None
        tr = f"{ct - cu:.0f} ns" if ct else ""
        print(f"| {go} | {wl} | {cu:.0f} ns | {cc:.0f} ns | {hits:.2f} | {(cc - cu) / hits:.0f} ns | {tr} |")
errs = [r for r in rows if r["socket_errors"] not in ("", "0")]
print()
print(f"wrk socket errors + non-2xx responses: {sum(int(r['socket_errors']) for r in errs)} "
      f"in {len(errs)} of {sum(1 for r in rows if r['unit'] == 'requests/s')} HTTP runs.")
print("ratio = traced median / untraced median; paired = traced / untraced of the same round; saturated rounds: "
      "median paired ratio over the rounds where the program kept >= 0.95 of a CPU busy in both runs (other "
      "tenants of the machine took no share). Added CPU per goroutine = (traced - untraced CPU per unit) / "
      "goroutines created per unit (1 for churn).")
EOF
cat "$OUT/goroutines.md"
log "results in $OUT/goroutines.md and $TSV"
