#!/usr/bin/env bash
# Runs the libFuzzer targets. CI runs a short session (ctest: fuzz_go_binary_short);
# for a long run:   scripts/fuzz.sh build 3600
# Seeds are real Go binaries from build/testbin; crashes are left in
# build/fuzz/artifacts/ and make this script fail. Every crash found becomes a
# regression input in tests/fuzz/regressions/.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-45}
fuzzer=$build/fuzz/fuzz_go_binary
[[ -x $fuzzer ]] || { echo "fuzz: $fuzzer not built (needs clang with libFuzzer: libclang-rt-14-dev)" >&2; exit 1; }
manifest=$build/testbin/manifest.tsv
[[ -f $manifest ]] || { echo "fuzz: $manifest missing; run scripts/build-test-binaries.sh $build/testbin" >&2; exit 1; }
work=$build/fuzz/run
mkdir -p "$work/corpus" "$work/seeds" "$build/fuzz/artifacts"
# A stripped, a PIE and an externally linked binary: the three ways a pclntab is found.
awk -F'\t' '$1=="symtest" && ($4=="stripped" || $4=="pie") {print $5} $4=="cgo-stripped" {print $5}' "$manifest" |
  head -6 | while read -r f; do cp -f "$f" "$work/seeds/"; done
src=$(cd "$(dirname "$0")/.." && pwd)
regress=$src/tests/fuzz/regressions
dirs=("$work/corpus" "$work/seeds")
[[ -d $regress ]] && dirs+=("$regress")
echo "fuzz: fuzz_go_binary for ${seconds}s"
status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=3000000 -timeout=20 \
  -artifact_prefix="$build/fuzz/artifacts/" -print_final_stats=1 "${dirs[@]}" >"$work/log" 2>&1 || status=$?
grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)|crash-|timeout-" "$work/log" || true
if [[ $status -ne 0 ]] || ls "$build/fuzz/artifacts/" | grep -q .; then
  echo "fuzz: FAILED: inputs in $build/fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz: no crash"
