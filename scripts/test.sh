#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test,
# first in the normal build, then in an AddressSanitizer + UBSan build; then the
# fuzzers for a bounded time and the multi-worker tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache (when installed) keys on paths relative to the clone, so that another clone
# of the same tree, or a build directory made anew, hits the same cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
VMSGATE_TEST_DEPS=1 bash scripts/install-deps.sh

# Warnings are errors here (VMSGATE_WERROR; off by default for packagers).
bash scripts/build.sh build -DVMSGATE_WERROR=ON
# The binary as most people and every packager build it: Release, -O3, where GCC
# warns of things it does not see at -O2.
VMSGATE_TARGET=vmsgate bash scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DVMSGATE_WERROR=ON \
  -DVMSGATE_TESTS=OFF -DVMSGATE_BENCH=OFF
(cd build && ctest -j "$(nproc)" --output-on-failure --timeout 900)   # integration tests run one at a time (RUN_SERIAL)
bash docker/check.sh build/proxy/vmsgate   # the compose site, without a Docker engine

bash scripts/build.sh build-asan -DVMSGATE_SANITIZE=ON -DVMSGATE_BENCH=OFF -DVMSGATE_WERROR=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The container site test (label `containers`) builds and runs the image's own
# Release binary: once, in the normal run above, is enough.
(cd build-asan && VMSGATE_TEST_SANITIZED=1 ctest -j "$(nproc)" --output-on-failure --timeout 1800 -LE containers)

bash scripts/fuzz.sh   # every libFuzzer target for 15 s, one per CPU at a time
bash scripts/tsan.sh   # the multi-worker tests under ThreadSanitizer
