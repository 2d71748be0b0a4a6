#!/usr/bin/env bash
# Installs what is missing, builds goscope and the Go test programs, and runs the
# whole test suite (ctest). Run as root: the BPF tests load programs into the kernel.
#   scripts/test.sh            everything
#   GOSCOPE_REQUIRE_BPF=1      (set by .ci/run) a BPF test that cannot load fails instead of skipping
#   GOSCOPE_BUILD_DIR=DIR      build tree (default: build/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${GOSCOPE_BUILD_DIR:-$root/build}

if [[ $EUID -eq 0 ]]; then
  scripts/install-deps.sh
else
  echo "test: not root: skipping install-deps; BPF tests will skip" >&2
fi

echo "test: configuring and building in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"

echo "test: building Go test programs with every installed toolchain"
scripts/build-test-binaries.sh "$build/testbin"

echo "test: running the suite"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
