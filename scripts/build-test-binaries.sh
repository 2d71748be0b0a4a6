#!/usr/bin/env bash
# Builds the Go test programs in tests/go with every installed Go toolchain
# (/usr/lib/go-1.*/bin/go) into OUTDIR and writes OUTDIR/manifest.tsv.
#
#   scripts/build-test-binaries.sh OUTDIR
#
# Per toolchain goX.Y, OUTDIR/goX.Y/ holds
#   symtest-plain symtest-stripped symtest-pie      (CGO_ENABLED=0, internal link)
#   demo-plain    demo-stripped    demo-pie         (CGO_ENABLED=0, internal link)
#   cgotest-cgo   cgotest-cgo-stripped              (CGO_ENABLED=1, external link)
#   goroutines-plain goroutines-stripped            (CGO_ENABLED=0, internal link)
#   gcprog-plain  gcprog-stripped                   (CGO_ENABLED=0, internal link)
#   leaker-plain  leaker-stripped                   (CGO_ENABLED=0, internal link)
#   heapprog-plain heapprog-stripped heapprog_pprof-plain heapprog_pprof-stripped (CGO_ENABLED=0)
#   inittest-plain inittest-stripped inittest-pie inittest-cgo   (package inits with known allocations)
#   agentprog-plain agentprog-stripped agentprog-pie   (a steady goroutine count, for the agent)
#   statsprog-plain statsprog-stripped                (heap and goroutines in known steps, with its own MemStats)
#   bigheap-plain bigheap-stripped                    (a heap of N MiB of pointer-carrying objects: leaks' cost)
#   retainprog-plain retainprog-stripped              (memory held by known roots: goscope retain)
#   leakprog-plain leakprog-stripped                  (goroutines leaked and alive by construction; on go1.26
#                                                      built with GOEXPERIMENT=goroutineleakprofile)
#   reliability-plain reliability-stripped reliability-pie reliability-cgo   (tests/reliability's target)
# stripped = -ldflags='-s -w' (no symbol table, no DWARF; .gopclntab stays),
# pie = -buildmode=pie.
#
# manifest.tsv: a header line, then one row per binary with the columns
#   name (program: symtest|demo|cgotest|goroutines|gcprog|leaker|heapprog|heapprog_pprof|inittest|agentprog|statsprog|leakprog|bigheap|retainprog|reliability)  go_version (full, e.g. go1.22.12)
#   goroot  variant (plain|stripped|pie|cgo|cgo-stripped)  path (absolute)
#
# Incremental: a binary is rebuilt only if it is missing or its stamp
# (toolchain version + build command + hash of the sources under tests/go)
# changed. Toolchains not installed are skipped with a message; it fails if
# none is found or a build fails. GO_TOOLCHAINS="/usr/lib/go-1.22/bin/go ..."
# builds with just those. The cgo variants need gcc; without it they
# are skipped with a message.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$SCRIPT_DIR/../tests/go" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

# Hermetic, offline Go environment; works as root in CI with HOME unset.
export GOCACHE=$OUT/.gocache
export GOTOOLCHAIN=local
export GOPROXY=off
export GOFLAGS=-buildvcs=false
export GOWORK=off
export GO111MODULE=on
export GOSUMDB=off
if [[ -z ${HOME:-} ]]; then
  export HOME=$OUT/.home
  mkdir -p "$HOME"
fi
# Go 1.23+ tools keep telemetry counters under os.UserConfigDir(), and
# `go env -w` settings live there too: keep both out of the user's home.
export XDG_CONFIG_HOME=$OUT/.config
if [[ -z ${GOPATH:-} ]]; then
  export GOPATH=$OUT/.gopath
fi
unset GOROOT GOOS GOARCH GOAMD64 CC CXX CGO_CFLAGS CGO_LDFLAGS GOEXPERIMENT 2>/dev/null || true
mkdir -p "$GOCACHE" "$GOPATH" "$XDG_CONFIG_HOME"

have_gcc=1
command -v gcc >/dev/null 2>&1 || have_gcc=0

# Content hash of the sources (go.mod, *.go, *.c, *.h, file names included):
# part of every stamp, so any edit, addition or removal rebuilds.
src_hash=$(cd "$SRC" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' -o -name '*.c' -o -name '*.h' \) \
  -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)

# One build at a time per OUTDIR (ctest and a manual run may overlap).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.lock"
  flock 9
fi

# Toolchains, oldest first, by version (go-1.9 < go-1.19 < go-1.21).
# GO_TOOLCHAINS="/path/to/go ..." replaces the search (e.g. to build fewer).
if [[ -n ${GO_TOOLCHAINS:-} ]]; then
  read -r -a GOS <<<"$GO_TOOLCHAINS"
else
  mapfile -t GOS < <(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -t. -k2,2n)
fi

# prog variant -> build arguments (after "go build -o OUT").
variants=(
  "symtest plain"
  "symtest stripped"
  "symtest pie"
  "demo plain"
  "demo stripped"
  "demo pie"
  "cgotest cgo"
  "cgotest cgo-stripped"
  "goroutines plain"
  "goroutines stripped"
  "gcprog plain"
  "gcprog stripped"
  "leaker plain"
  "leaker stripped"
  "heapprog plain"
  "heapprog stripped"
  "heapprog_pprof plain"
  "heapprog_pprof stripped"
  "inittest plain"
  "inittest stripped"
  "inittest pie"
  "inittest cgo"
  "agentprog plain"
  "agentprog stripped"
  "agentprog pie"
  "statsprog plain"
  "statsprog stripped"
  "leakprog plain"
  "leakprog stripped"
  "bigheap plain"
  "bigheap stripped"
  "retainprog plain"
  "retainprog stripped"
  "reliability plain"
  "reliability stripped"
  "reliability pie"
  "reliability cgo"
)
build_args() { # variant
  case $1 in
    plain) echo "" ;;
    stripped) echo "-ldflags=-s -w" ;;
    pie) echo "-buildmode=pie" ;;
    cgo) echo "" ;;
    cgo-stripped) echo "-ldflags=-s -w" ;;
  esac
}
cgo_enabled() { [[ $1 == cgo* ]] && echo 1 || echo 0; }
# The runtime's own goroutine leak profile is an experiment in go1.26 (on by
# default from go1.27): leakprog gets it there, to be checked against.
goexperiment() { # prog minor
  [[ $1 == leakprog && $2 == go1.26 ]] && echo goroutineleakprofile || echo ""
}

manifest_tmp=$OUT/manifest.tsv.tmp.$$
trap 'rm -f "$manifest_tmp"' EXIT
printf 'name\tgo_version\tgoroot\tvariant\tpath\n' >"$manifest_tmp"

found=0
declare -A seen_minor=()
for gobin in "${GOS[@]}"; do
  goroot=$(dirname "$(dirname "$gobin")")
  if [[ ! -x $gobin ]]; then
    echo "build-test-binaries: skip $gobin: not installed"
    continue
  fi
  if ! gover=$("$gobin" env GOVERSION 2>/dev/null) || [[ -z $gover ]]; then
    # very old toolchains lack GOVERSION; parse "go version goX.Y.Z os/arch"
    gover=$("$gobin" version 2>/dev/null | awk '{print $3}') || true
  fi
  if [[ ! $gover =~ ^go1\.([0-9]+) ]]; then
    echo "build-test-binaries: skip $goroot: cannot read version ('$gover')"
    continue
  fi
  minor=go1.${BASH_REMATCH[1]}
  if [[ -n ${seen_minor[$minor]:-} ]]; then
    echo "build-test-binaries: skip $goroot: $minor already built with ${seen_minor[$minor]}"
    continue
  fi
  seen_minor[$minor]=$goroot
  found=$((found + 1))
  dir=$OUT/$minor
  mkdir -p "$dir"
  built=0 uptodate=0 skipped=0
  start=$SECONDS
  for v in "${variants[@]}"; do
    read -r prog variant <<<"$v"
    cgo=$(cgo_enabled "$variant")
    if [[ $cgo == 1 && $have_gcc == 0 ]]; then
      echo "build-test-binaries: $minor: skip $prog-$variant: gcc not found"
      skipped=$((skipped + 1))
      continue
    fi
    out=$dir/$prog-$variant
    stamp=$dir/.$prog-$variant.stamp
    args=$(build_args "$variant")
    exp=$(goexperiment "$prog" "$minor")
    want="$gover $goroot CGO_ENABLED=$cgo GOEXPERIMENT=$exp build $args ./$prog src=$src_hash"
    if [[ -x $out && -f $stamp && $(<"$stamp") == "$want" ]]; then
      uptodate=$((uptodate + 1))
    else
      rm -f "$stamp"
      cmd=("$gobin" build -o "$out.tmp")
      [[ -n $args ]] && cmd+=("$args")
      cmd+=("./$prog")
      if ! (cd "$SRC" && CGO_ENABLED=$cgo GOEXPERIMENT=$exp "${cmd[@]}"); then
        rm -f "$out.tmp"
        echo "build-test-binaries: $minor: FAILED: CGO_ENABLED=$cgo ${cmd[*]} (in $SRC)" >&2
        exit 1
      fi
      mv -f "$out.tmp" "$out"
      printf '%s' "$want" >"$stamp"
      built=$((built + 1))
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$prog" "$gover" "$goroot" "$variant" "$out" >>"$manifest_tmp"
  done
  echo "build-test-binaries: $gover ($goroot) -> $dir: built $built, up to date $uptodate, skipped $skipped ($((SECONDS - start))s)"
done

if [[ $found == 0 ]]; then
  echo "build-test-binaries: no Go toolchain found at /usr/lib/go-1.*/bin/go (run scripts/install-deps.sh)" >&2
  exit 1
fi
mv -f "$manifest_tmp" "$OUT/manifest.tsv"
trap - EXIT
echo "build-test-binaries: wrote $OUT/manifest.tsv ($(( $(wc -l <"$OUT/manifest.tsv") - 1 )) binaries from $found toolchains)"
