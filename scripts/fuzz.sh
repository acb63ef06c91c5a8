#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ in build-fuzz/ with clang (ASan + UBSan on
# the targets and the project libraries they link) and runs each for a bounded
# time from its seed corpus in fuzz/corpus/<target>/. Fails on any crash, leak,
# timeout or sanitizer report; the reproducer is left in build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 15: about 60 s in all on 2 CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
targets=(config policy name_match admin_http tls_handshake ticket_keys records record_diff acme_order)
lock=${VMSGATE_BUILD_LOCK:-/tmp/vmsgate-build.lock}

# Instrument the project libraries for coverage and the sanitizers too, or the
# fuzzer would see only its own harness; the targets add -fsanitize=fuzzer.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
CC=clang-14 CXX=clang++-14 flock "$lock" cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVMSGATE_FUZZ=ON -DVMSGATE_TESTS=OFF -DVMSGATE_BENCH=OFF -DCMAKE_CXX_FLAGS="$flags" >/dev/null
flock "$lock" cmake --build build-fuzz --target fuzzers -j "$(nproc)"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/artifacts
# One target per CPU at a time: each fuzzer is single-threaded, so the run takes
# about seconds × targets / CPUs, and every target still gets its full time.
# The differential record-layer fuzzer runs a real handshake per input (about 250 a
# second): it gets four times as long.
declare -A weight=([record_diff]=4)
fuzz_one() {
  local t=$1 work=build-fuzz/corpus/$1 time=$((seconds * ${weight[$1]:-1}))
  # New inputs go to a scratch corpus; the committed seeds stay small and reviewed.
  mkdir -p "$work"
  build-fuzz/fuzz/fuzz_$t -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "$work" "fuzz/corpus/$t" \
    >"build-fuzz/fuzz_$t.log" 2>&1
}
jobs_max=$(nproc)
declare -A running=()  # pid -> target
failed=()
reap() {  # waits for any one fuzzer and records its result
  local pid t
  wait -n -p pid "${!running[@]}" && t=${running[$pid]} || { t=${running[$pid]}; failed+=("$t"); }
  unset "running[$pid]"
  echo "fuzz_$t: $((seconds * ${weight[$t]:-1}))s"
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ *DONE" "build-fuzz/fuzz_$t.log" || true
}
for t in "${targets[@]}"; do
  while ((${#running[@]} >= jobs_max)); do reap; done
  fuzz_one "$t" &
  running[$!]=$t
done
while ((${#running[@]} > 0)); do reap; done
for t in "${failed[@]}"; do tail -n 60 "build-fuzz/fuzz_$t.log"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (reproducers in build-fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: no crash, leak or sanitizer report in ${#targets[@]} targets"
