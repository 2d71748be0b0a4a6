#!/usr/bin/env bash
# What reading the runtime's own statistics costs the node agent: BENCH_PROCS
# (default 50) Go processes (tests/go/agentprog, every installed toolchain,
# plain, stripped and PIE, 10 blocked goroutines each), the agent reading their
# stats every second for BENCH_SECONDS (default 60), so the figure for the
# default 15 s interval comes from 15x the readings. Figures: bench/RESULTS.md
# ("Runtime statistics").
#
#   scripts/bench-stats.sh [BUILD_DIR]     (default: build beside the sources)
#
# Two measures, same run:
#   direct   the agent's own account: goscope_agent_runtime_stats_cpu_seconds_total
#            (its main thread's CPU inside the readings) / _reads_total
#   A/B      the agent's whole CPU (utime+stime) in alternating phases with stats
#            read every 1 s and every 3600 s (off), BENCH_ROUNDS (default 3) each:
#            the difference per reading, which includes what the direct measure
#            might miss (scheduling, page faults)
# Both projected to 50 processes every 15 s, as a share of one core.
# Output: BUILD_DIR/bench-out/stats.md
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)  # absolute: GOCACHE must be
cli=${GOSCOPE_CLI:-$build/user/goscope}
nprocs=${BENCH_PROCS:-50}
secs=${BENCH_SECONDS:-60}
rounds=${BENCH_ROUNDS:-3}
out=$build/bench-out
work=$build/bench-stats
mkdir -p "$out" "$work"
[[ $EUID -eq 0 ]] || { echo "bench-stats: needs root (BPF, other processes' memory)" >&2; exit 1; }
[[ -x $cli ]] || cmake --build "$build" --target goscope >/dev/null

# shellcheck source=scripts/agentprog-builds.sh
source "$root/scripts/agentprog-builds.sh"
build_agentprogs "$root" "$work"
bins=("${agentprogs[@]}")

pids=()
agent=
cleanup() { kill "${pids[@]}" 2>/dev/null || true; [[ -n $agent ]] && kill "$agent" 2>/dev/null || true; }
trap cleanup EXIT
for ((i = 0; i < nprocs; i++)); do
  "${bins[$((i % ${#bins[@]}))]}" 10 idle >/dev/null 2>&1 &
  pids+=($!)
done
sleep 2

metric() { curl -sf 127.0.0.1:19498/metrics | awk -v m="$1" '$1 == m {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
start_agent() { # stats interval
  echo "{\"include\": [{\"exe\": \"*/bench-stats/agentprog-*\"}], \"runtime_stats\": {\"interval_seconds\": $1}}" \
    >"$work/agent.json"
  "$cli" agent --listen 127.0.0.1:19498 --config "$work/agent.json" -q &
  agent=$!
  for _ in $(seq 100); do [[ $(metric goscope_agent_traced_processes || true) == "$nprocs" ]] && break; sleep 0.2; done
  sleep 5  # first snapshots done
}
stop_agent() { kill "$agent"; wait "$agent" 2>/dev/null || true; agent=; }

direct_cpu=0 direct_reads=0
on_cpu=0 on_wall=0 on_reads=0 off_cpu=0 off_wall=0
for ((r = 1; r <= rounds; r++)); do
  for interval in 1 3600; do
    start_agent "$interval"
    c0=$(cpu_ticks "$agent"); t0=$(date +%s.%N); n0=$(metric goscope_agent_runtime_stats_reads_total)
    s0=$(metric goscope_agent_runtime_stats_cpu_seconds_total)
    sleep "$secs"
    c1=$(cpu_ticks "$agent"); t1=$(date +%s.%N); n1=$(metric goscope_agent_runtime_stats_reads_total)
    s1=$(metric goscope_agent_runtime_stats_cpu_seconds_total)
    read -r cpu wall reads scpu < <(python3 -c "print(($c1-$c0)/$hz, $t1-$t0, $n1-$n0, $s1-$s0)")
    echo "bench-stats: round $r, stats every ${interval}s: agent CPU ${cpu}s in ${wall}s, $reads readings, ${scpu}s in them" >&2
    if [[ $interval == 1 ]]; then
      read -r on_cpu on_wall on_reads direct_cpu direct_reads < <(python3 -c \
        "print($on_cpu+$cpu, $on_wall+$wall, $on_reads+$reads, $direct_cpu+$scpu, $direct_reads+$reads)")
    else
      read -r off_cpu off_wall < <(python3 -c "print($off_cpu+$cpu, $off_wall+$wall)")
    fi
    stop_agent
  done
done

python3 - "$nprocs" "$direct_cpu" "$direct_reads" "$on_cpu" "$on_wall" "$on_reads" "$off_cpu" "$off_wall" >"$out/stats.md" <<'PY'
import sys
n, dcpu, dreads, on_cpu, on_wall, on_reads, off_cpu, off_wall = map(float, sys.argv[1:])
per_read = dcpu / dreads
ab_per_read = (on_cpu / on_wall - off_cpu / off_wall) * on_wall / on_reads
share = lambda per: per * 50 / 15
print("| measure | CPU per reading | 50 processes every 15 s (share of one core) |")
print("|---|---|---|")
print(f"| direct (agent's own account, {int(dreads)} readings) | {per_read*1e6:.1f} us | {share(per_read):.4%} |")
print(f"| A/B (agent CPU {on_cpu/on_wall:.3%} with stats every 1 s, {off_cpu/off_wall:.3%} without) | {ab_per_read*1e6:.1f} us | {share(ab_per_read):.4%} |")
PY
cat "$out/stats.md"
