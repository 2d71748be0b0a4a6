#!/usr/bin/env bash
# What tracing package init costs a program's start-up: `goscope run --until main`
# against the untraced program, interleaved in the same run, as ratios of wall time.
# Figures and how to read them: bench/RESULTS.md ("Init tracing cost").
#
#   scripts/bench-init.sh [BUILD_DIR]     (default: build beside the sources)
#
# Programs: Debian's /usr/bin/restic ("restic version": go1.19, stripped, externally
# linked, 234 packages initialized, ~13k allocations before main) and tests/go/inittest
# (21 packages, ~11k allocations, 0.5 MB in one package) built with each toolchain of
# BENCH_INIT_GO_VERSIONS that is installed, one program per toolchain ("inittest-go1.24",
# "inittest-go1.27", ...). Programs are measured one after another; each round runs the
# program both ways, in alternating order. Three figures per program:
#   wall       exec to exit of the whole command: what a user waits for. Traced includes
#              goscope's own start (reading the binary, loading BPF, attaching every
#              init-function probe) and its report writing
#   init       exec to main.main as goscope measures it (its "startup.seconds"), traced;
#              untraced has no such probe, so the untraced program's whole wall time
#              (which includes its own tiny main) bounds it from above
#   per-alloc  (traced init - untraced wall) / allocations before main: an upper bound on
#              the added cost per allocation
# Environment: BENCH_ROUNDS (default 20), GOSCOPE_CLI (default BUILD_DIR/user/goscope),
# BENCH_INIT_GO_VERSIONS (toolchains in /usr/lib/go-VERSION to build inittest with, default
# "1.24 1.27"; those not installed are skipped with a note).
# Output: BUILD_DIR/bench-out/init.md and init.tsv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
mkdir -p "$build"
build=$(cd "$build" && pwd) # absolute: GOCACHE and go build -o are used from tests/go
cli=${GOSCOPE_CLI:-$build/user/goscope}
rounds=${BENCH_ROUNDS:-20}
out=$build/bench-out
work=$build/bench-init
mkdir -p "$out" "$work"
[[ -x $cli ]] || cmake --build "$build" --target goscope >/dev/null
[[ $EUID -eq 0 ]] || { echo "bench-init: needs root (BPF)" >&2; exit 1; }

go_versions=${BENCH_INIT_GO_VERSIONS:-1.24 1.27}
progs=()
[[ -x /usr/bin/restic ]] && progs+=("restic|/usr/bin/restic|version")
for v in $go_versions; do
  go=/usr/lib/go-$v/bin/go
  if [[ ! -x $go ]]; then
    echo "bench-init: $go not installed, no inittest-go$v" >&2
    continue
  fi
  (cd "$root/tests/go" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    GOCACHE=$work/.gocache "$go" build -o "$work/inittest-go$v" ./inittest)
  progs+=("inittest-go$v|$work/inittest-go$v|")
done
[[ ${#progs[@]} -gt 0 ]] || { echo "bench-init: neither restic nor any of go $go_versions installed" >&2; exit 1; }

now_ns() { date +%s%N; }
tsv=$out/init.tsv
printf 'program\tround\tmode\twall_ns\tinit_ns\tallocs\n' >"$tsv"
for spec in "${progs[@]}"; do
  IFS='|' read -r name path args <<<"$spec"
  echo "bench-init: $name: $rounds rounds" >&2
  for ((r = 1; r <= rounds; r++)); do
    for mode in $( ((r % 2)) && echo "plain traced" || echo "traced plain"); do
      if [[ $mode == plain ]]; then
        t0=$(now_ns); "$path" $args >/dev/null 2>&1; t1=$(now_ns)
        printf '%s\t%d\tplain\t%d\t\t\n' "$name" "$r" $((t1 - t0)) >>"$tsv"
      else
        rm -rf "$work/out"
        t0=$(now_ns); "$cli" run -q --until main -o "$work/out" -- "$path" $args >/dev/null 2>&1; t1=$(now_ns)
        read -r init allocs < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(int(j["startup"]["seconds"]*1e9), j["startup"]["allocs"])' "$work/out/init.json")
        printf '%s\t%d\ttraced\t%d\t%d\t%d\n' "$name" "$r" $((t1 - t0)) "$init" "$allocs" >>"$tsv"
      fi
    done
  done
done

python3 - "$tsv" "$out/init.md" <<'PY'
import csv, statistics, sys, platform, os
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
out = ["| program | allocs before main | untraced wall (median) | traced wall (median) | wall ratio | traced exec->main.main | per-alloc bound |",
       "|---|---|---|---|---|---|---|"]
for prog in dict.fromkeys(r['program'] for r in rows):
    plain = [int(r['wall_ns']) for r in rows if r['program'] == prog and r['mode'] == 'plain']
    traced = [r for r in rows if r['program'] == prog and r['mode'] == 'traced']
    pw = statistics.median(plain); tw = statistics.median(int(r['wall_ns']) for r in traced)
    ti = statistics.median(int(r['init_ns']) for r in traced); al = statistics.median(int(r['allocs']) for r in traced)
    out.append(f"| {prog} | {al:.0f} | {pw/1e6:.1f} ms | {tw/1e6:.1f} ms | {tw/pw:.1f}x | {ti/1e6:.1f} ms | {max(ti-pw,0)/al/1e3:.2f} us |")
out.append("")
out.append(f"machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}, load {os.getloadavg()[0]:.1f}")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
