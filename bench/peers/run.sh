#!/usr/bin/env bash
# First-look peer comparison: CPU time that HAProxy and vmsgate each spend per
# full TLS 1.3 handshake and per GiB forwarded, one thread each, the proxy pinned
# to one CPU and the load generators and backends to another. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VMSGATE=${VMSGATE:-$ROOT/build/proxy/vmsgate}
PROXIES=${PROXIES:-"haproxy vmsgate"}
RUNS=${RUNS:-3}
HS_SECONDS=${HS_SECONDS:-8}
BULK_BYTES=${BULK_BYTES:-$((1 << 30))}
CIPHERSUITE=${CIPHERSUITE:-TLS_AES_128_GCM_SHA256}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
OUT=${OUT:-$ROOT/bench/RESULTS-first-look.md}
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/vmsgate-peers.XXXXXX)
PIDS=()

say() { echo "run.sh: $*" >&2; }

# Every process this script starts is listed in PIDS and stopped here by pid.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "${KEEP:-}" ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

stop_pid() {
  local pid=$1 keep=() p
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

ensure_haproxy() {
  command -v haproxy >/dev/null && return
  say "installing haproxy (Debian package)"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get install -y -q haproxy >&2
}

# A site CA and a leaf that passes vmsgate's default policy: RSA-2048, serverAuth,
# a DNS SAN for the name the clients dial. HAProxy takes the same leaf and key.
make_pki() {
  local d=$WORK/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
    -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/leaf.key" -out "$d/leaf.csr" -subj "/CN=bench.local" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:bench.local" >"$d/leaf.ext"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
  chmod 600 "$d/ca.key" "$d/leaf.key"
  cat "$d/leaf.pem" "$d/leaf.key" >"$d/haproxy.pem"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Ready means a full TLS 1.3 handshake succeeds on the port; a bare TCP probe
# would count as a failed handshake, and has crashed an early vmsgate build.
wait_tls() {
  local port=$1 pid=$2 i
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 1
    if timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername bench.local -tls1_3 </dev/null 2>&1 |
      grep -q '^New, TLSv1.3'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# utime + stime of all the process's threads, in clock ticks. The name field is
# cut first because a name may contain spaces.
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

start_backends() {
  taskset -c "$LOAD_CPU" python3 "$HERE/backend.py" "$WORK/backend.ports" "$BULK_BYTES" 2>"$WORK/backend.log" &
  PIDS+=($!)
  local i
  for i in $(seq 50); do [[ -s "$WORK/backend.ports" ]] && break; sleep 0.1; done
  read -r ANSWER_PORT STREAM_PORT <"$WORK/backend.ports"
}

start_haproxy() {
  cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend handshakes
    bind 127.0.0.1:$HS_PORT ssl crt $WORK/pki/haproxy.pem ssl-min-ver TLSv1.3
    default_backend answer
frontend bulk
    bind 127.0.0.1:$BULK_PORT ssl crt $WORK/pki/haproxy.pem ssl-min-ver TLSv1.3
    default_backend stream
backend answer
    server answer 127.0.0.1:$ANSWER_PORT
backend stream
    server stream 127.0.0.1:$STREAM_PORT
EOF
  taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

start_vmsgate() {
  [[ -x "$VMSGATE" ]] || { say "no vmsgate binary at $VMSGATE"; return 1; }
  cat >"$WORK/vmsgate.yaml" <<EOF
admin:
  listen: "127.0.0.1:$(free_port)"
workers: 1
limits:
  handshake_timeout: 10s
  idle_timeout: 60s
roles:
  bench:
    ca: $WORK/pki/ca.pem
routes:
  - name: handshakes
    role: bench
    mode: terminate
    listen: "127.0.0.1:$HS_PORT"
    server_names: [bench.local]
    cert: $WORK/pki/leaf.pem
    key: $WORK/pki/leaf.key
    backends: ["127.0.0.1:$ANSWER_PORT"]
  - name: bulk
    role: bench
    mode: terminate
    listen: "127.0.0.1:$BULK_PORT"
    server_names: [bench.local]
    cert: $WORK/pki/leaf.pem
    key: $WORK/pki/leaf.key
    backends: ["127.0.0.1:$STREAM_PORT"]
EOF
  taskset -c "$PROXY_CPU" "$VMSGATE" run --config "$WORK/vmsgate.yaml" >"$WORK/vmsgate.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

# What the two proxies actually negotiate, so that the rows compare like with like.
negotiated() {
  echo | timeout 10 openssl s_client -connect "127.0.0.1:$HS_PORT" -servername bench.local -tls1_3 \
    -ciphersuites "$CIPHERSUITE" 2>&1 |
    awk -F': ' '/^New, /{ sub(/^New, /, ""); p = $0 } /Server Temp Key/{ k = $2 } /Peer signature type/{ s = $2 }
      END { printf "%s, key exchange %s, signature %s", p, k, s }'
}

# Prints "ticks handshakes wall_seconds" for one s_time run of new sessions only.
measure_handshakes() {
  local t0 t1 out n w0 w1
  t0=$(cpu_ticks "$PROXY_PID")
  w0=$(date +%s.%N)
  out=$(taskset -c "$LOAD_CPU" timeout $((HS_SECONDS + 30)) openssl s_time -connect "127.0.0.1:$HS_PORT" \
    -new -tls1_3 -ciphersuites "$CIPHERSUITE" -time "$HS_SECONDS" 2>&1) || true
  w1=$(date +%s.%N)
  sleep 0.3  # let the proxy finish the last connection before reading its clock
  t1=$(cpu_ticks "$PROXY_PID")
  n=$(sed -nE 's/^([0-9]+) connections in [0-9]+ real seconds.*/\1/p' <<<"$out" | head -1)
  if [[ -z "$n" || "$n" -eq 0 ]]; then
    say "s_time failed: $(tail -3 <<<"$out" | tr '\n' ' ')"
    return 1
  fi
  echo "$((t1 - t0)) $n $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')"
}

# Prints "ticks bytes wall_seconds" for one download of BULK_BYTES through the proxy.
measure_bulk() {
  local t0 t1 out
  t0=$(cpu_ticks "$PROXY_PID")
  out=$(taskset -c "$LOAD_CPU" curl -sS --http1.1 --tlsv1.3 --tls13-ciphers "$CIPHERSUITE" \
    --cacert "$WORK/pki/ca.pem" --resolve "bench.local:$BULK_PORT:127.0.0.1" --max-time 120 \
    -o /dev/null -w '%{size_download} %{time_total}' "https://bench.local:$BULK_PORT/") || true
  sleep 0.3
  t1=$(cpu_ticks "$PROXY_PID")
  if [[ "${out%% *}" != "$BULK_BYTES" ]]; then
    say "download incomplete: '$out' of $BULK_BYTES bytes"
    return 1
  fi
  echo "$((t1 - t0)) $out"
}

bench_proxy() {
  local name=$1 hs bulk i ticks n wall bytes
  HS_PORT=$(free_port)
  BULK_PORT=$(free_port)
  if ! "start_$name" || ! wait_tls "$HS_PORT" "$PROXY_PID" || ! wait_tls "$BULK_PORT" "$PROXY_PID"; then
    say "$name did not start; last log lines:"
    tail -5 "$WORK/$name.log" >&2 2>/dev/null || true
    [[ -n "${PROXY_PID:-}" ]] && stop_pid "$PROXY_PID"
    ROWS+=("| $name | not measured: did not start | | | |")
    return
  fi
  NEGOTIATED+=("- $name: $(negotiated)")
  : >"$WORK/$name.hs"
  : >"$WORK/$name.bulk"
  for i in $(seq "$RUNS"); do
    if hs=$(measure_handshakes); then
      read -r ticks n wall <<<"$hs"
      echo "$ticks $n $wall" >>"$WORK/$name.hs"
      RAW+=("| $name | $i | handshakes | $n in ${wall} s | $ticks |")
    fi
    if bulk=$(measure_bulk); then
      read -r ticks bytes wall <<<"$bulk"
      echo "$ticks $bytes $wall" >>"$WORK/$name.bulk"
      RAW+=("| $name | $i | bulk | $bytes B in ${wall} s | $ticks |")
    fi
    say "$name run $i: handshakes [${hs:-failed}] bulk [${bulk:-failed}]"
  done
  kill -0 "$PROXY_PID" 2>/dev/null || say "$name exited during the runs; see $WORK/$name.log"
  stop_pid "$PROXY_PID"
  local us_hs s_gib hs_rate mib_rate label
  us_hs=$(awk -v c="$CLK_TCK" '{ print $1 / c * 1e6 / $2 }' "$WORK/$name.hs" | median)
  hs_rate=$(awk '$3 > 0 { print $2 / $3 }' "$WORK/$name.hs" | median)
  s_gib=$(awk -v c="$CLK_TCK" '{ print ($1 / c) / ($2 / 1073741824) }' "$WORK/$name.bulk" | median)
  mib_rate=$(awk '$3 > 0 { print $2 / 1048576 / $3 }' "$WORK/$name.bulk" | median)
  label=$name
  [[ $name == haproxy ]] && label="HAProxy $(haproxy -v | sed -nE '1s/^HAProxy version ([^ ]+).*/\1/p')"
  [[ $name == vmsgate ]] && label="vmsgate $("$VMSGATE" --version 2>/dev/null | head -1 | awk '{ print $2 }')"
  ROWS+=("$(printf '| %s | %.0f | %.2f | %.0f | %.0f |' "$label" "$us_hs" "$s_gib" "$hs_rate" "$mib_rate")")
}

report() {
  cat <<EOF
# Peer comparison, first look

$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -nE '0,/^model name/s/^model name[^:]*: //p' /proc/cpuinfo)),
Linux $(uname -r), $(openssl version | cut -d' ' -f1-2), vmsgate commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown).

One proxy thread pinned to CPU $PROXY_CPU; clients and backends pinned to CPU $LOAD_CPU.
CPU is the proxy process's utime + stime from /proc/PID/stat ($CLK_TCK ticks/s),
median of $RUNS runs. Handshakes: \`openssl s_time -new -tls1_3\` for ${HS_SECONDS} s,
one connection at a time, no resumption, RSA-2048 server certificate. Bulk: curl
downloads $((BULK_BYTES / 1048576)) MiB through the proxy over one TLS 1.3 connection.
The wall-clock rates are bounded by the single client on CPU $LOAD_CPU, not by the proxy.

| proxy | CPU µs / handshake | CPU s / GiB | handshakes/s (wall) | MiB/s (wall) |
|---|---:|---:|---:|---:|
$(printf '%s\n' "${ROWS[@]}")

Negotiated:
$(printf '%s\n' "${NEGOTIATED[@]:-- (none)}")

Raw runs:

| proxy | run | test | work | CPU ticks |
|---|---:|---|---|---:|
$(printf '%s\n' "${RAW[@]:-| - | - | - | - | - |}")

Reproduce: \`bench/peers/run.sh\` (environment: VMSGATE, PROXIES, RUNS, HS_SECONDS,
BULK_BYTES, CIPHERSUITE, PROXY_CPU, LOAD_CPU, OUT).
EOF
}

main() {
  [[ $(nproc) -ge 2 ]] || say "warning: fewer than 2 CPUs; proxy and load share one"
  ensure_haproxy
  make_pki
  start_backends
  ROWS=() RAW=() NEGOTIATED=()
  local p
  for p in $PROXIES; do bench_proxy "$p"; done
  report | tee "$OUT"
}

main "$@"
