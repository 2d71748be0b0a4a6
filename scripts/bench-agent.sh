#!/usr/bin/env bash
# The node agent's own cost: CPU and resident memory of `goscope agent` while it
# traces many Go processes, at rest and busy, and what a thousand short-lived Go
# processes started in a row cost it. Figures: bench/RESULTS.md ("Node agent").
#
#   scripts/bench-agent.sh [BUILD_DIR]     (default: build beside the sources)
#
# Processes: tests/go/agentprog built per installed toolchain, plain, stripped and
# PIE (up to 15 binaries), started round-robin until BENCH_PROCS (default 50) run,
# each holding 10 blocked goroutines. Phases, each BENCH_SECONDS (default 60):
#   rest   the programs block (`agentprog 10 idle`): the agent's floor (snapshots every
#          2 s, HTTP idle); /metrics scraped once per 15 s as Prometheus would
#   busy   the programs allocate 64 KiB every 20 ms each (~3 MB/s, Go's sampler at
#          512 KiB: ~6 heap samples/s per process) and are scraped every 15 s
#   churn  1000 `agentprog exit 10` in a row (a shell loop), of a binary no steady
#          process runs: CPU the agent spent, and its RSS before and after
# Agent CPU = its utime+stime over the phase (/proc/PID/stat) / wall; RSS from
# /proc/PID/status VmRSS at the end of the phase.
# Output: BUILD_DIR/bench-out/agent.md
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)  # absolute: GOCACHE must be
cli=${GOSCOPE_CLI:-$build/user/goscope}
nprocs=${BENCH_PROCS:-50}
secs=${BENCH_SECONDS:-60}
out=$build/bench-out
work=$build/bench-agent
mkdir -p "$out" "$work"
[[ $EUID -eq 0 ]] || { echo "bench-agent: needs root (BPF)" >&2; exit 1; }
[[ -x $cli ]] || cmake --build "$build" --target goscope >/dev/null

# shellcheck source=scripts/agentprog-builds.sh
source "$root/scripts/agentprog-builds.sh"
build_agentprogs "$root" "$work"
bins=("${agentprogs[@]}")
cp -f "${bins[0]}" "$work/churnprog"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; [[ -n ${agent:-} ]] && kill "$agent" 2>/dev/null || true; }
trap cleanup EXIT
start_procs() { # mode
  kill "${pids[@]}" 2>/dev/null || true; pids=()
  for ((i = 0; i < nprocs; i++)); do
    b=${bins[$((i % ${#bins[@]}))]}
    if [[ $1 == idle ]]; then "$b" 10 idle >/dev/null 2>&1 & else "$b" 10 >/dev/null 2>&1 & fi
    pids+=($!)
  done
  sleep 2
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

start_procs idle
# Only the benchmark's programs: whatever else runs on the machine is not measured.
echo '{"include": [{"exe": "*/bench-agent/agentprog-*"}, {"exe": "*/bench-agent/churnprog"}]}' >"$work/agent.json"
"$cli" agent --listen 127.0.0.1:19499 --config "$work/agent.json" -q &
agent=$!
sleep 10  # discovery and first snapshots
phase() { # name
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks "$agent")
  for ((s = 0; s < secs; s += 15)); do curl -sf 127.0.0.1:19499/metrics -o /dev/null || true; sleep 15; done
  t1=$(date +%s.%N); c1=$(cpu_ticks "$agent")
  traced=$(curl -sf 127.0.0.1:19499/metrics | awk '/^goscope_agent_traced_processes/ {print $2}')
  bins_n=$(curl -sf 127.0.0.1:19499/metrics | awk '/^goscope_agent_attached_binaries/ {print $2}')
  lost=$(curl -sf 127.0.0.1:19499/metrics | awk '/^goscope_agent_events_lost_total/ {print $2}')
  python3 -c "import sys; print(f'| $1 | {int(sys.argv[4])} | {int(sys.argv[5])} | {(float(sys.argv[2])-float(sys.argv[1]))/$hz/(float(sys.argv[3])):.2%} | {int(sys.argv[6])/1024:.1f} MB | {sys.argv[7]} |')" \
    "$c0" "$c1" "$(python3 -c "print($t1-$t0)")" "$traced" "$bins_n" "$(rss_kb "$agent")" "$lost"
}
{
  echo "| phase | traced processes | binaries | agent CPU (of one core) | agent RSS | events lost |"
  echo "|---|---|---|---|---|---|"
  phase rest
  start_procs busy
  sleep 5
  phase busy
  rss0=$(rss_kb "$agent"); c0=$(cpu_ticks "$agent"); t0=$(date +%s.%N)
  for ((i = 0; i < 1000; i++)); do "$work/churnprog" exit 10; done
  t1=$(date +%s.%N); sleep 8; c1=$(cpu_ticks "$agent"); rss1=$(rss_kb "$agent")
  seen=$(curl -sf 127.0.0.1:19499/metrics | awk '/^goscope_agent_processes_traced_total/ {print $2}')
  python3 -c "print(f'| churn: 1000 x 10 ms processes in {$t1-$t0:.1f} s | {$seen} traced in all | | {($c1-$c0)/$hz:.2f} CPU s ({($c1-$c0)/$hz/1000*1000:.2f} ms per process) | {$rss0/1024:.1f} -> {$rss1/1024:.1f} MB | |')"
  echo
  echo "machine: $(nproc) CPUs, kernel $(uname -r), load $(cut -d' ' -f1 /proc/loadavg); $nprocs processes of ${#bins[@]} binaries; ${secs}s per phase"
} | tee "$out/agent.md"
