#!/usr/bin/env bash
# What `goscope leaks` and `goscope retain` cost: the process they examine is
# stopped while its heap is marked (the pause), and goscope spends CPU and
# memory of its own. BENCH_COMMANDS (default "leaks retain") picks them. The
# target is tests/go/bigheap (stripped), holding BENCH_MIB (default "100 1024")
# MiB of 128-byte nodes that each point at a 64-byte payload, with 10 leaked
# goroutines; built with the oldest and newest installed toolchains.
# BENCH_ROUNDS (default 5) proofs per heap; medians. Figures: bench/RESULTS.md
# ("Leak proof", "Retention").
#
#   scripts/bench-leaks.sh [BUILD_DIR]     (default: build beside the sources)
#
# Output: BUILD_DIR/bench-out/leaks.md
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cli=${GOSCOPE_CLI:-$build/user/goscope}
sizes=${BENCH_MIB:-100 1024}
rounds=${BENCH_ROUNDS:-5}
commands=${BENCH_COMMANDS:-leaks retain}
out=$build/bench-out
mkdir -p "$out"
[[ $EUID -eq 0 ]] || { echo "bench-leaks: needs root (ptrace, other processes' memory)" >&2; exit 1; }
"$root/scripts/build-test-binaries.sh" "$build/testbin" >/dev/null
mapfile -t bins < <(awk -F'\t' '$1 == "bigheap" {print $5}' "$build/testbin/manifest.tsv" | sed -n '1p;$p' | sort -u)
[[ ${#bins[@]} -gt 0 ]] || { echo "bench-leaks: no bigheap build in $build/testbin" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

{
  echo "| command | binary | heap (HeapAlloc) | objects | pause (median, min-max) | goscope wall | goscope CPU | goscope peak RSS | result |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$out/leaks.md"
for bin in "${bins[@]}"; do
  ver=$(basename "$(dirname "$bin")")
  for mib in $sizes; do
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    "$bin" -mib "$mib" <"$fifo" >"$fifo.out" &
    pid=$!
    exec 8>"$fifo"  # held open: bigheap waits for its input to close
    for _ in $(seq 1 600); do grep -q ready "$fifo.out" 2>/dev/null && break; sleep 0.1; done
    read -r _ heap objects <"$fifo.out"
    for command in $commands; do
    pauses=() walls=() cpus=() rss=() result=
    for r in $(seq 1 "$rounds"); do
      if [[ $command == leaks ]]; then
        /usr/bin/time -f "%e %U %S %M" -o "$fifo.time" "$cli" leaks -p "$pid" --json --max-pause 60000 >"$fifo.json" 2>/dev/null
        pauses+=("$(python3 -c "import json; print(json.load(open('$fifo.json'))['pause_seconds'])")")
        result="$(python3 -c "import json; print(json.load(open('$fifo.json'))['leaked'])") of 10 leaked"
      else
        /usr/bin/time -f "%e %U %S %M" -o "$fifo.time" "$cli" retain -p "$pid" -o "$fifo.pb.gz" --max-pause 60000 >"$fifo.json" 2>/dev/null
        pauses+=("$(sed -n 's/.*: stopped \([0-9.]*\) ms$/\1/p' "$fifo.json" | awk '{print $1 / 1000}')")
        result="reachable $(sed -n 's/.*reachable: \(.*\) in .* objects.*/\1/p' "$fifo.json")"
      fi
      read -r wall u s m <"$fifo.time"
      walls+=("$wall"); cpus+=("$(echo "$u + $s" | bc -l)"); rss+=("$m")
      echo "bench-leaks: $command $ver ${mib} MiB round $r: pause ${pauses[-1]} s, wall $wall s, rss $m KiB" >&2
    done
    p_med=$(printf '%s\n' "${pauses[@]}" | median)
    p_min=$(printf '%s\n' "${pauses[@]}" | sort -g | head -1)
    p_max=$(printf '%s\n' "${pauses[@]}" | sort -g | tail -1)
    printf '| %s | %s bigheap | %s (%s) | %s | %.3f s (%.3f-%.3f) | %.2f s | %.2f s | %.0f MiB | %s |\n' \
      "$command" "$ver" "${mib} MiB" "${heap#HeapAlloc=}" "${objects#HeapObjects=}" "$p_med" "$p_min" "$p_max" \
      "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" \
      "$(echo "$(printf '%s\n' "${rss[@]}" | median) / 1024" | bc -l)" "$result" >>"$out/leaks.md"
    done
    exec 8>&-
    wait "$pid" || true
    rm -f "$fifo" "$fifo.out" "$fifo.json" "$fifo.time" "$fifo.pb.gz"
  done
done
cat "$out/leaks.md"
