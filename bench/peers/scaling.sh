#!/usr/bin/env bash
# Scaling (issue 7, item 4): vmsgate's CPU per full TLS 1.3 handshake with 1 worker
# and with 2, under the same load (CLIENTS parallel `openssl s_time -new` clients).
# With 1 worker the proxy is pinned to CPU 1 and the clients to CPU 0; with 2 the
# workers need both CPUs, so proxy and clients share them: on a 2-CPU machine the
# second figure also carries the cost of sharing a core with the load. OpenSSL 3.0's
# lock contention, if any, shows as a higher CPU cost per handshake. The report
# becomes the latest scaling section of bench/RESULTS.md, the one before moving to
# its History (run.sh's publish_report; with OUT=FILE, it goes to FILE alone).
# Environment: RUNS (3), HS_SECONDS (5), CLIENTS (2), OUT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export CLIENTS=${CLIENTS:-2}
# shellcheck source=run.sh
source "$HERE/run.sh"
PROXIES=vmsgate

scaling_main() {
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  local load_start run w v m lo hi one two
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  make_pki
  start_backends
  declare -gA AFFINITY_SEEN=()
  RAW=()
  for run in $(seq "$RUNS"); do
    for w in 1 2; do
      WORKERS=$w
      if [[ $w == 1 ]]; then PROXY_CPU=1 LOAD_CPU=0; else PROXY_CPU=0,1 LOAD_CPU=0,1; fi
      rm -f "$WORK/vmsgate.hs13"
      one_test vmsgate hs13 "$run"
      RAW[-1]=${RAW[-1]/"| vmsgate |"/"| vmsgate, $w worker(s) |"}
      v=$(tail -1 "$WORK/vmsgate.hs13" 2>/dev/null || true)
      [[ -n "$v" ]] && echo "$v" >>"$WORK/workers.$w"
    done
  done
  read -r m lo hi < <(stats <"$WORK/workers.1"); one=$m
  local row1="| 1 | CPU 1 (load on CPU 0) | $(fmt "$m") ($(fmt "$lo")–$(fmt "$hi")) | 1.00 |"
  read -r m lo hi < <(stats <"$WORK/workers.2"); two=$m
  local row2="| 2 | CPUs 0,1 (load on both) | $(fmt "$m") ($(fmt "$lo")–$(fmt "$hi")) | $(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }') |"
  RUN_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
  cat >"$WORK/scaling.md" <<REPORT
# Scaling: vmsgate CPU per full handshake, 1 worker vs 2

$RUN_DATE, $(nproc) CPUs, Linux $(uname -r), $(openssl version | cut -d' ' -f1-2),
vmsgate $(commit_note); load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg).

$CLIENTS parallel \`openssl s_time -new -tls1_3 -ciphersuites $CIPHERSUITE -time $HS_SECONDS\` clients,
each connection a full handshake (RSA-2048); the cell is vmsgate's own CPU time
(/proc/PID/stat utime + stime) per handshake, median of $RUNS runs (min–max).
Target (issue 7): 2 workers within 10 % of 1 worker (ratio ≤ 1.10).

| workers | proxy on | CPU µs per handshake | ratio to 1 worker |
|---:|---|---:|---:|
$row1
$row2

<details><summary>Raw runs</summary>

| proxy | run | test | work | CPU ticks | per unit |
|---|---:|---|---|---:|---:|
$(printf '%s\n' "${RAW[@]}")

</details>

Reproduce: \`bash bench/peers/scaling.sh\` (runs alternate 1 and 2 workers).
REPORT
  publish_report scaling "$WORK/scaling.md"
}

scaling_main
