#!/usr/bin/env bash
# ThreadSanitizer run of the tests that exercise several workers at once (issue 8).
# Only the gateway binary and the test programs these tests live in are built, in
# build-tsan/, so that the run costs minutes, not a second full sanitizer build.
# A race makes the gateway abort at once (halt_on_error), which the test sees as a
# gateway that died.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=${VMSGATE_BUILD_LOCK:-/tmp/vmsgate-build.lock}
# Clang, not GCC 12: GCC's TSan build of the coroutines loses a coroutine's
# parameters (the session constructor then reads a null route and crashes on the
# first connection), the same family as the `if (!co_await f())` miscompile.
# -O1 and line tables are what TSan needs, and cost less to build than -O2 -g.
CC=clang-14 CXX=clang++-14 flock "$lock" cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMSGATE_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
flock "$lock" cmake --build build-tsan --target vmsgate test_integration test_net -j "$(nproc)"

# Multi-worker tests: every gateway these tests start runs two workers.
tests='^(SourceLimiter\.|Gateway\.(SmallEcho|TenParallelStreams|DeadPrimary)|GatewayLifecycle\.|HostileFlood\.|HostilePeers\.|Acme\.(ObtainsTheFirst|ARenewal))'
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"
(cd build-tsan && VMSGATE_TEST_SANITIZED=1 ctest -R "$tests" --output-on-failure --timeout 900)
