#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR/fuzz, each for SECONDS with a
# corpus of its own (BUILD_DIR/fuzz/run/TARGET/corpus, kept between runs).
# CI runs a short session (ctest: fuzz_go_binary_short); for a long run:
#   scripts/fuzz.sh build 3600
# Seeds: real Go binaries from build/testbin for fuzz_go_binary, a few request
# targets and header fields for fuzz_http_request and configs for fuzz_agent_config (written
# below), and tests/fuzz/seeds/TARGET/ for any target that has one. Crashes are left in build/fuzz/artifacts/TARGET-* and make this
# script fail. Every crash found becomes a regression input in
# tests/fuzz/regressions/TARGET/ (tests/fuzz/regressions/ itself: fuzz_go_binary).
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-45}
src=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
fuzzers=()
for f in "$build"/fuzz/fuzz_*; do [[ -f $f && -x $f ]] && fuzzers+=("$f"); done
((${#fuzzers[@]})) || { echo "fuzz: no targets in $build/fuzz (needs clang with libFuzzer: libclang-rt-14-dev)" >&2; exit 1; }
mkdir -p "$build/fuzz/artifacts"

# A stripped, a PIE and an externally linked binary: the three ways a pclntab is found.
seed_fuzz_go_binary() { # DIR
  local manifest=$build/testbin/manifest.tsv
  [[ -f $manifest ]] || { echo "fuzz: $manifest missing; run scripts/build-test-binaries.sh $build/testbin" >&2; return 1; }
  awk -F'\t' '$1=="symtest" && ($4=="stripped" || $4=="pie") {print $5} $4=="cgo-stripped" {print $5}' "$manifest" |
    head -6 | while read -r f; do cp -f "$f" "$1/"; done
}

# Targets and header fields (one a line, the target first) as Prometheus and
# curl send them, and shapes the server refuses.
seed_fuzz_http_request() { # DIR
  printf '/metrics\nHost: 127.0.0.1:9464\nUser-Agent: Prometheus/2.42.0\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\nAccept-Encoding: gzip\nAuthorization: Bearer s3cr3t\nX-Prometheus-Scrape-Timeout-Seconds: 10\n' >"$1/prometheus"
  printf '/debug/pprof/heap?seconds=30&pid=1234&name=a%%20b+c\nHost: node:9464\nUser-Agent: curl/7.88.1\nAccept: */*\n' >"$1/curl-query"
  printf 'http://node:9464/metrics\n' >"$1/absolute"
  printf '/metrics\nHost: h\nContent-Length: 5\n' >"$1/body"
  printf '/\nHost: h\nTransfer-Encoding: chunked\nBad Name: x\n' >"$1/chunked-bad-name"
  printf '/a/../%%6detrics?a=%%00&b=%%zz#x\nHost: a\nHost: b\n' >"$1/escapes-two-hosts"
}

# The example in user/agent/agent_config.h, and a small one.
seed_fuzz_agent_config() { # DIR
  cat >"$1/full.json" <<'JSON'
{
  "include": [{"cgroup": "/system.slice/*"}, {"exe": "*/caddy"}],
  "exclude": [{"comm": "go-build*"}, {"exe": "/usr/lib/go-*/*"}],
  "allow_write": true,
  "heap_rate": 524288,
  "interval_seconds": 60,
  "profile_dir": "/var/lib/goscope",
  "retention": {"max_bytes": 1073741824, "max_age_seconds": 604800},
  "listen": "127.0.0.1:9464",
  "token_file": "/etc/goscope/token"
}
JSON
  printf '{"include": [{"comm": "[a-z]*d", "exe": "/usr/bin/?addy"}]}\n' >"$1/small.json"
}

status=0
for fuzzer in "${fuzzers[@]}"; do
  name=${fuzzer##*/}
  work=$build/fuzz/run/$name
  mkdir -p "$work/corpus" "$work/seeds"
  if declare -F "seed_$name" >/dev/null && ! "seed_$name" "$work/seeds"; then
    status=1
    continue
  fi
  dirs=("$work/corpus" "$work/seeds")
  [[ -d $src/tests/fuzz/seeds/$name ]] && dirs+=("$src/tests/fuzz/seeds/$name")
  [[ -d $src/tests/fuzz/regressions/$name ]] && dirs+=("$src/tests/fuzz/regressions/$name")
  opts=()
  case $name in
    fuzz_go_binary)
      [[ -d $src/tests/fuzz/regressions ]] && dirs+=("$src/tests/fuzz/regressions")
      opts=(-rss_limit_mb=4096 -max_len=3000000 -timeout=20) ;;
    fuzz_http_request) opts=(-max_len=16384 -timeout=10) ;;
    *) opts=(-timeout=20) ;;
  esac
  echo "fuzz: $name for ${seconds}s"
  rc=0
  "$fuzzer" -max_total_time="$seconds" "${opts[@]}" -artifact_prefix="$build/fuzz/artifacts/$name-" \
    -print_final_stats=1 "${dirs[@]}" >"$work/log" 2>&1 || rc=$?
  grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)|crash-|timeout-" "$work/log" || true
  artifacts=("$build/fuzz/artifacts/$name"-*)
  if [[ $rc -ne 0 ]] || ((${#artifacts[@]})); then
    echo "fuzz: $name FAILED: inputs in $build/fuzz/artifacts/, log $work/log" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] || exit 1
echo "fuzz: no crash"
