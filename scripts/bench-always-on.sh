#!/usr/bin/env bash
# What goscope costs a saturated HTTP server: `goscope attach` and `goscope agent`
# with their defaults, beside Debian's caddy (go1.19, stripped) and bench/go/httpserver
# built with the newest installed Go. Figures: bench/RESULTS.md ("Always on").
#
#   scripts/bench-always-on.sh [BUILD_DIR]     (default: build beside the sources)
#
# Each server runs twice, from two copies of its binary: one traced, one not, both
# pinned to CPU 0 with GOMAXPROCS=1. goscope is pinned to CPU 0 as well, so the CPU
# it uses itself comes out of the server's throughput; the load generator runs on
# CPU 1. A round sends the same fixed work to each copy in turn (ab: keep-alive
# requests, 16 at a time, of a 4 KiB file: 100,000 to caddy, 250,000 to httpserver,
# about 3-4 s each), the order alternating by round; the ratio of the two wall times
# is taken round by round, so the machine's drift falls on both. The A/A row (nothing
# attached) shows what the two copies differ by on their own; the last column divides
# it out. Each server creates a goroutine per request (net/http's background read),
# the load a per-goroutine probe feels most.
# A second measure, for machines whose CPU is shared with noisy neighbours (stolen time
# makes wall times of a few seconds swing by tens of percent, both copies alike but not
# in the same seconds): the CPU each copy used for its fixed work (utime + stime of all
# its threads; the kernel charges uprobe handling to the thread that hit the probe),
# with all of goscope's CPU in the round added to the traced copy's. Stolen time is
# charged to nobody.
#
# Options (environment): BENCH_ROUNDS (default 12), BENCH_REQUESTS (overrides both counts),
# BENCH_SERVERS ("caddy httpserver"), BENCH_MODES ("none attach agent"; also
# agent-no-write: the agent with --no-write, so that where the server's MemProfileRate
# is 0 (httpserver) Go's own heap sampler stays off and what remains is goscope's;
# attach-always: attach --creations always, every goroutine's creation probed), GOSCOPE_CLI.
# Output: BUILD_DIR/bench-out/always-on.md (+ .tsv with every round).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cli=${GOSCOPE_CLI:-$build/user/goscope}
rounds=${BENCH_ROUNDS:-12}
servers=${BENCH_SERVERS:-caddy httpserver}
modes=${BENCH_MODES:-none attach agent}
out=$build/bench-out
work=$build/bench-always-on
mkdir -p "$out" "$work/www"
[[ $EUID -eq 0 ]] || { echo "bench-always-on: needs root (BPF)" >&2; exit 1; }
[[ $(nproc) -ge 2 ]] || { echo "bench-always-on: needs 2 CPUs (server and load apart)" >&2; exit 1; }
for tool in ab caddy taskset; do
  command -v "$tool" >/dev/null || { echo "bench-always-on: $tool missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[[ -x $cli ]] || cmake --build "$build" --target goscope >/dev/null
go=$(ls -d /usr/lib/go-1.* | sort -t. -k2 -n | tail -1)/bin/go

head -c 3072 /dev/urandom | base64 -w 64 | head -c 4096 >"$work/www/index.html"
cp -f /usr/bin/caddy "$work/caddy-traced"
cp -f /usr/bin/caddy "$work/caddy-untraced"
(cd "$root/bench/go" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOCACHE=$work/.gocache HOME=$work \
  "$go" build -o "$work/httpserver-traced" ./httpserver)
cp -f "$work/httpserver-traced" "$work/httpserver-untraced"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

# start SERVER COPY PORT: a pinned server; prints its pid
start() {
  local log=$work/$1-$2.log
  if [[ $1 == caddy ]]; then
    GOMAXPROCS=1 taskset -c 0 "$work/caddy-$2" file-server --root "$work/www" --listen "127.0.0.1:$3" >"$log" 2>&1 &
  else
    GOMAXPROCS=1 taskset -c 0 "$work/httpserver-$2" -addr "127.0.0.1:$3" -size 4096 >"$log" 2>&1 &
  fi
  echo $!
}
url() { [[ $1 == caddy ]] && echo "http://127.0.0.1:$2/index.html" || echo "http://127.0.0.1:$2/"; }
# load SERVER URL: seconds ab took for the fixed work
load() {
  local n=${BENCH_REQUESTS:-$([[ $1 == caddy ]] && echo 100000 || echo 250000)}
  taskset -c 1 ab -q -k -n "$n" -c 16 "$2" 2>&1 | awk '/Time taken for tests/ {print $5}'
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

tsv=$out/always-on.tsv
echo -e "server\tmode\tround\ttraced_s\tuntraced_s\tratio\ttraced_ticks\tuntraced_ticks\tgoscope_ticks\tcpu_ratio" >"$tsv"
md=$out/always-on.md
{
  echo "| server | goscope | rounds | ratio of wall times, traced/untraced: median | min..max | throughput cost | goscope's own CPU | cost beyond A/A | CPU for the same work, traced (+ goscope) / untraced: median | min..max | CPU cost beyond A/A |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$md"

port=18400
for server in $servers; do
  traced_port=$((port++)) untraced_port=$((port++))
  traced=$(start "$server" traced "$traced_port")
  untraced=$(start "$server" untraced "$untraced_port")
  pids+=("$traced" "$untraced")
  sleep 2
  for _ in 1 2; do load "$server" "$(url "$server" "$traced_port")" >/dev/null; load "$server" "$(url "$server" "$untraced_port")" >/dev/null; done
  for mode in $modes; do
    gs=""
    case $mode in
      attach | attach-always)
        flags=(); [[ $mode == attach-always ]] && flags=(--creations always)
        taskset -c 0 "$cli" attach -p "$traced" --duration 3600 -o "$work/attach-$server" "${flags[@]}" \
          >"$work/attach-$server.log" 2>&1 &
        gs=$!
        until grep -q "probes live" "$work/attach-$server.log"; do sleep 0.2; done ;;
      agent | agent-no-write)
        echo "{\"include\": [{\"exe\": \"$work/$server-traced\"}], \"listen\": \"127.0.0.1:$((port++))\"}" >"$work/agent.json"
        flags=(); [[ $mode == agent-no-write ]] && flags=(--no-write)
        taskset -c 0 "$cli" agent --config "$work/agent.json" "${flags[@]}" >"$work/agent-$server.log" 2>&1 &
        gs=$!
        until grep -q "tracing 1 Go processes" "$work/agent-$server.log"; do sleep 0.2; done ;;
    esac
    sleep 3  # past start-up (parsing the binary): the steady state is what runs for months
    t0=$([[ -n $gs ]] && ticks "$gs" || echo 0)
    w0=$(date +%s.%N)
    ratios=() cpu_ratios=()
    for ((r = 1; r <= rounds; r++)); do
      c0=$(ticks "$traced") d0=$(ticks "$untraced") g0=$([[ -n $gs ]] && ticks "$gs" || echo 0)
      if ((r % 2)); then
        a=$(load "$server" "$(url "$server" "$traced_port")"); b=$(load "$server" "$(url "$server" "$untraced_port")")
      else
        b=$(load "$server" "$(url "$server" "$untraced_port")"); a=$(load "$server" "$(url "$server" "$traced_port")")
      fi
      ct=$(($(ticks "$traced") - c0)) du=$(($(ticks "$untraced") - d0))
      gt=$([[ -n $gs ]] && echo $(($(ticks "$gs") - g0)) || echo 0)
      ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.4f", a / b}')
      cpu_ratio=$(awk -v c="$ct" -v g="$gt" -v d="$du" 'BEGIN {printf "%.4f", (c + g) / d}')
      ratios+=("$ratio") cpu_ratios+=("$cpu_ratio")
      echo -e "$server\t$mode\t$r\t$a\t$b\t$ratio\t$ct\t$du\t$gt\t$cpu_ratio" >>"$tsv"
      echo "bench-always-on: $server $mode round $r/$rounds: traced ${a}s untraced ${b}s ratio $ratio;" \
        "CPU ticks traced $ct + goscope $gt, untraced $du: ratio $cpu_ratio" >&2
    done
    cpu="-"
    if [[ -n $gs ]]; then
      cpu=$(awk -v t="$(($(ticks "$gs") - t0))" -v hz="$hz" -v w0="$w0" -v w1="$(date +%s.%N)" \
        'BEGIN {printf "%.2f%% of a core", 100 * t / hz / (w1 - w0)}')
      kill -INT "$gs"; wait "$gs" || true
    fi
    med=$(printf '%s\n' "${ratios[@]}" | median)
    range=$(printf '%s\n' "${ratios[@]}" | sort -g | sed -n '1p;$p' | paste -sd' ' | awk '{print $1 ".." $2}')
    cost=$(awk -v m="$med" 'BEGIN {printf "%.1f%%", 100 * (1 - 1 / m)}')
    label=$([[ $mode == none ]] && echo "none (A/A)" || echo "$mode")
    [[ $mode == attach || $mode == agent ]] && label="$mode (defaults)"
    [[ $mode == attach-always ]] && label="attach --creations always"
    [[ $mode == none ]] && aa=$med
    beyond=$([[ -n ${aa:-} ]] && awk -v m="$med" -v aa="$aa" 'BEGIN {printf "%.1f%%", 100 * (1 - aa / m)}' || echo "-")
    cmed=$(printf '%s\n' "${cpu_ratios[@]}" | median)
    crange=$(printf '%s\n' "${cpu_ratios[@]}" | sort -g | sed -n '1p;$p' | paste -sd' ' | awk '{print $1 ".." $2}')
    [[ $mode == none ]] && caa=$cmed
    cbeyond=$([[ -n ${caa:-} ]] && awk -v m="$cmed" -v aa="$caa" 'BEGIN {printf "%.1f%%", 100 * (m / aa - 1)}' || echo "-")
    echo "| $server ($("$go" version "$work/$server-traced" | awk '{print $2}')) | $label | $rounds | **$med** | $range | $cost | $cpu | $beyond | **$cmed** | $crange | **$cbeyond** |" >>"$md"
  done
  kill "$traced" "$untraced" 2>/dev/null || true
  aa="" caa=""
done
cat "$md"
