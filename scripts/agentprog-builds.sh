# Sourced by the agent benchmarks: builds tests/go/agentprog with every
# installed toolchain, plain, stripped and PIE, into a work directory (once;
# kept between runs) and lists the binaries in the array `agentprogs`.
#
#   source scripts/agentprog-builds.sh; build_agentprogs ROOT WORK
build_agentprogs() { # root work
  local root=$1 work=$2 go v variant o
  local -a flags
  agentprogs=()
  for go in /usr/lib/go-1.*/bin/go; do
    v=$(basename "$(dirname "$(dirname "$go")")")
    for variant in plain stripped pie; do
      flags=()
      [[ $variant == stripped ]] && flags=(-ldflags=-s\ -w)
      [[ $variant == pie ]] && flags=(-buildmode=pie)
      o=$work/agentprog-$v-$variant
      [[ -x $o ]] || (cd "$root/tests/go" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
        GOCACHE=$work/.gocache HOME=$work "$go" build "${flags[@]}" -o "$o" ./agentprog)
      agentprogs+=("$o")
    done
  done
}
