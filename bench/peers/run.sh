#!/usr/bin/env bash
# Peer comparison (issue 7): the CPU time vmsgate, HAProxy, hitch and nginx stream
# each spend per unit of work, and their memory per idle TLS connection, with the
# same certificate, backend and loads; one worker each, the proxy pinned to one CPU
# and the load generators and backends to the other. The report becomes the latest
# peer comparison in bench/RESULTS.md, the one before moving to its History (with
# OUT=FILE, it goes to FILE alone). See README.md here and bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VMSGATE=${VMSGATE:-$ROOT/build/proxy/vmsgate}
PROXIES=${PROXIES:-"vmsgate haproxy hitch nginx"}
TESTS=${TESTS:-"hs13 hs12 resumed bulk1 bulk16 keepalive idle bulk1_12 idle12"}
RUNS=${RUNS:-5}
HS_SECONDS=${HS_SECONDS:-5}
KA_SECONDS=${KA_SECONDS:-5}
BULK_BYTES=${BULK_BYTES:-$((1 << 30))}
STREAMS=${STREAMS:-16}
IDLE_CONNS=${IDLE_CONNS:-2000}
CIPHERSUITE=${CIPHERSUITE:-TLS_AES_128_GCM_SHA256}
CIPHER12=${CIPHER12:-ECDHE-RSA-AES128-GCM-SHA256}
PROXY_CPU=${PROXY_CPU:-1}
WORKERS=${WORKERS:-1}  # vmsgate's workers (scaling.sh sets 2)
CLIENTS=${CLIENTS:-1}  # parallel s_time clients in the handshake tests
LOAD_CPU=${LOAD_CPU:-0}
OUT=${OUT:-}  # set: the report goes there; unset: into RESULTS_FILE, keeping the history
RESULTS_FILE=$ROOT/bench/RESULTS.md
FLOOR=${FLOOR:-1}  # 0: no floor column
FLOOR_RELAY=${FLOOR_RELAY:-$ROOT/build/bench/vmsgate_floor_relay}
FLOOR_BENCH=${FLOOR_BENCH:-$ROOT/build/bench/vmsgate_bench}  # OpenSSL's own handshake, in memory
NOTE=${NOTE:-}
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/vmsgate-peers.XXXXXX)
chmod 755 "$WORK"  # hitch and nginx workers run as nobody
PIDS=()
START_TIME=$(date +%s)

say() { echo "run.sh: $*" >&2; }

# shellcheck source=results.sh
source "$HERE/results.sh"

# Every process this script starts is listed in PIDS and stopped here by pid.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${KEEP:-}" ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

install_peers() {
  local missing=() sudo=""
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v hitch >/dev/null || missing+=(hitch)
  command -v nginx >/dev/null || missing+=(nginx-light)
  [[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  ((${#missing[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  say "installing ${missing[*]} (Debian packages)"
  $sudo apt-get install -y -q "${missing[@]}" >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q "${missing[@]}" >&2; }
}

# A site CA and a leaf that passes vmsgate's default policy: RSA-2048, serverAuth,
# SANs for bench.local, localhost and 127.0.0.1 (wrk dials localhost and sends it as SNI;
# vmsgate refuses an IP literal as SNI). Every proxy serves the same leaf and key.
make_pki() {
  local d=$WORK/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 400 \
    -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$d/leaf.key" -out "$d/leaf.csr" -subj "/CN=bench.local" 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:bench.local,DNS:localhost,IP:127.0.0.1" >"$d/leaf.ext"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 400 \
    -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
  chmod 600 "$d/ca.key" "$d/leaf.key"
  cat "$d/leaf.pem" "$d/leaf.key" >"$d/combined.pem"
  chmod 600 "$d/combined.pem"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Ready means a full TLS handshake succeeds on the port (a bare TCP probe would
# count as a failed handshake).
wait_tls() {
  local port=$1 pid=$2 i
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 1
    if timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername bench.local </dev/null 2>&1 |
      grep -q '^New, TLSv1'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# The proxy process and its children (hitch and nginx fork their workers).
tree() { echo "$1"; pgrep -P "$1" || true; }

# utime + stime of the whole tree, in clock ticks. The name field is cut first
# because a name may contain spaces.
cpu_ticks() {
  local p sum=0 t
  for p in $(tree "$1"); do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

rss_kb() {
  local p sum=0 r
  for p in $(tree "$1"); do
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || r=0
    sum=$((sum + ${r:-0}))
  done
  echo "$sum"
}

affinity() {
  local p out=()
  for p in $(tree "$1"); do out+=("$p:$(taskset -pc "$p" 2>/dev/null | sed 's/.*: //')"); done
  echo "${out[*]}"
}

# Prints "median min max" of the numbers on stdin (nan when none).
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan nan nan"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}

start_backends() {
  taskset -c "$LOAD_CPU" python3 "$HERE/backend.py" "$WORK/backend.ports" "$BULK_BYTES" 2>"$WORK/backend.log" &
  PIDS+=($!)
  local i
  for i in $(seq 50); do [[ -s "$WORK/backend.ports" ]] && break; sleep 0.1; done
  read -r ANSWER_PORT STREAM_PORT IDLE_PORT <"$WORK/backend.ports"
  # The keep-alive backend: nginx as a plain HTTP server answering 100 bytes.
  KA_PORT=$(free_port)
  mkdir -p "$WORK/nginx-backend"
  cat >"$WORK/nginx-backend/nginx.conf" <<EOF
daemon off;
master_process off;
worker_rlimit_nofile 65536;
pid $WORK/nginx-backend/nginx.pid;
error_log $WORK/nginx-backend/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/nginx-backend;
    proxy_temp_path $WORK/nginx-backend;
    fastcgi_temp_path $WORK/nginx-backend;
    uwsgi_temp_path $WORK/nginx-backend;
    scgi_temp_path $WORK/nginx-backend;
    server {
        listen 127.0.0.1:$KA_PORT;
        default_type text/plain;
        location / { return 200 "$(printf '%099d' 0)\n"; }
    }
}
EOF
  taskset -c "$LOAD_CPU" nginx -e "$WORK/nginx-backend/error.log" -c "$WORK/nginx-backend/nginx.conf" \
    >"$WORK/nginx-backend/out.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 50); do
    [[ $(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$KA_PORT/" 2>/dev/null) == 100 ]] && return 0
    sleep 0.1
  done
  say "keep-alive backend (nginx) did not start"; return 1
}

backend_for() {
  case $1 in
    hs13 | hs12 | resumed) echo "$ANSWER_PORT" ;;
    bulk1 | bulk16 | bulk1_12) echo "$STREAM_PORT" ;;
    keepalive) echo "$KA_PORT" ;;
    idle | idle12) echo "$IDLE_PORT" ;;
  esac
}

# start_NAME PORT BACKEND_PORT: one TLS frontend on PORT to BACKEND_PORT, one
# worker, TLS 1.2 and 1.3, default session handling; sets PROXY_PID.
start_haproxy() {
  cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls
    bind 127.0.0.1:$1 ssl crt $WORK/pki/combined.pem ssl-min-ver TLSv1.2
    default_backend plain
backend plain
    server plain 127.0.0.1:$2
EOF
  taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

# vmsgate_sni: the same route, second of two on its port (SNI routing, issue 28). The
# first, a decoy for 127.0.0.1 with the same certificate and backend, is where every
# connection starts; the bench route is the default, so s_time (which sends no SNI)
# and the clients that send bench.local or localhost all switch to it in the
# ClientHello callback: the costliest path a shared port has.
start_vmsgate_sni() { SNI_DECOY=1 start_vmsgate "$@"; }
# vmsgate_base: another build of vmsgate (VMSGATE_BASE=path), one route, for a
# before/after comparison run interleaved with the others.
start_vmsgate_base() { VMSGATE=${VMSGATE_BASE:?set VMSGATE_BASE to the other build} start_vmsgate "$@"; }

start_vmsgate() {
  [[ -x "$VMSGATE" ]] || { say "no vmsgate binary at $VMSGATE"; return 1; }
  local decoy="" default=""
  if [[ -n "${SNI_DECOY:-}" ]]; then
    default="    default: true"
    decoy="  - name: decoy
    role: bench
    listen: \"127.0.0.1:$1\"
    server_names: [127.0.0.1]
    cert: $WORK/pki/leaf.pem
    key: $WORK/pki/leaf.key
    backends: [\"127.0.0.1:$2\"]"
  fi
  cat >"$WORK/vmsgate.yaml" <<EOF
admin:
  listen: "127.0.0.1:$(free_port)"
workers: $WORKERS
limits:
  handshake_timeout: 10s
  idle_timeout: 120s
roles:
  bench:
    ca: $WORK/pki/ca.pem
routes:
$decoy
  - name: bench
    role: bench
    mode: terminate
    listen: "127.0.0.1:$1"
    server_names: [bench.local, localhost]
    cert: $WORK/pki/leaf.pem
    key: $WORK/pki/leaf.key
    backends: ["127.0.0.1:$2"]
$default
EOF
  taskset -c "$PROXY_CPU" "$VMSGATE" run --config "$WORK/vmsgate.yaml" >"$WORK/vmsgate.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

# hitch refuses to run as root (user = nobody) and pins its worker to a CPU of
# its own choosing: its children are re-pinned after start (see pin_tree).
start_hitch() {
  cat >"$WORK/hitch.conf" <<EOF
frontend = "[127.0.0.1]:$1"
backend = "[127.0.0.1]:$2"
pem-file = "$WORK/pki/combined.pem"
workers = 1
daemon = off
user = "nobody"
tls-protos = TLSv1.2 TLSv1.3
ocsp-dir = "$WORK"
backlog = 4096
EOF
  taskset -c "$PROXY_CPU" hitch --config="$WORK/hitch.conf" >"$WORK/hitch.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

start_nginx() {
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 10000; }
stream {
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $WORK/pki/leaf.pem;
        ssl_certificate_key $WORK/pki/leaf.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        proxy_pass 127.0.0.1:$2;
    }
}
EOF
  taskset -c "$PROXY_CPU" nginx -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

# Every process of the proxy on PROXY_CPU, whatever it did to itself; the first
# affinity seen after start is kept for the report.
pin_tree() {
  local p before
  before=$(affinity "$1")
  [[ -n "${AFFINITY_SEEN[$2]:-}" ]] || AFFINITY_SEEN[$2]=$before
  for p in $(tree "$1"); do taskset -pc "$PROXY_CPU" "$p" >/dev/null 2>&1 || true; done
}

# s_time: prints "ticks connections resumed wall"; args after the first are s_time's.
# CLIENTS copies run side by side; their connections and resumptions are summed.
s_time_run() {
  local t0 t1 out n=0 r=0 w0 w1 i pids=() cn
  t0=$(cpu_ticks "$PROXY_PID")
  w0=$(date +%s.%N)
  for i in $(seq "$CLIENTS"); do
    taskset -c "$LOAD_CPU" timeout $((HS_SECONDS + 30)) openssl s_time -connect "127.0.0.1:$PORT" \
      -www / -time "$HS_SECONDS" "$@" >"$WORK/s_time.$i" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  w1=$(date +%s.%N)
  sleep 0.3  # let the proxy finish the last connection before reading its clock
  t1=$(cpu_ticks "$PROXY_PID")
  for i in $(seq "$CLIENTS"); do
    out=$(cat "$WORK/s_time.$i")
    cn=$(sed -nE 's/^([0-9]+) connections in [0-9.]+s?.*/\1/p' <<<"$out" | tail -1)
    if [[ -z "$cn" || "$cn" -eq 0 ]]; then
      say "s_time failed: $(tail -3 <<<"$out" | tr '\n' ' ')"
      return 1
    fi
    n=$((n + cn))
    # One mark per connection on its own line: 'r' resumed, '*' (or a version) new.
    r=$((r + $(grep -E '^[*rt3]+$' <<<"$out" | tr -cd 'r' | wc -c)))
  done
  echo "$((t1 - t0)) $n $r $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')"
}

# Prints "ticks bytes wall" for STREAMS (1 or 16) parallel downloads totalling BULK_BYTES,
# over TLS 1.3, or TLS 1.2 if the second argument says 1.2, or in plain text
# through the floor relay if it says plain.
bulk_run() {
  local streams=$1 each t0 t1 out args=() i got w0 w1 url="https://bench.local:$PORT"
  local tls=(--tlsv1.3 --tls13-ciphers "$CIPHERSUITE")
  local trust=(--cacert "$WORK/pki/ca.pem" --resolve "bench.local:$PORT:127.0.0.1")
  case ${2:-} in
    1.2) tls=(--tlsv1.2 --tls-max 1.2 --ciphers "$CIPHER12") ;;
    plain) tls=(); trust=(); url="http://127.0.0.1:$PORT" ;;
  esac
  each=$((BULK_BYTES / streams))
  for i in $(seq "$streams"); do args+=(-o /dev/null "$url/$each"); done
  t0=$(cpu_ticks "$PROXY_PID")
  w0=$(date +%s.%N)
  out=$(taskset -c "$LOAD_CPU" curl -sS --http1.1 "${tls[@]}" "${trust[@]}" --max-time 180 \
    --parallel --parallel-max "$streams" -w '%{size_download}\n' "${args[@]}") || true
  w1=$(date +%s.%N)
  sleep 0.3
  t1=$(cpu_ticks "$PROXY_PID")
  got=$(awk '{ s += $1 } END { print s + 0 }' <<<"$out")
  if [[ "$got" != "$((each * streams))" ]]; then
    say "download incomplete: $got of $((each * streams)) bytes"
    return 1
  fi
  echo "$((t1 - t0)) $got $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }')"
}

# wrk_run URL SECONDS WRK_ARGS...: prints "ticks requests seconds" for one wrk run
# with one thread; fails when wrk completed no request.
wrk_run() {
  local url=$1 seconds=$2 t0 t1 out n
  shift 2
  t0=$(cpu_ticks "$PROXY_PID")
  out=$(taskset -c "$LOAD_CPU" timeout $((seconds + 30)) wrk -t1 -d"${seconds}s" "$@" "$url" 2>&1) || true
  sleep 0.3
  t1=$(cpu_ticks "$PROXY_PID")
  n=$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' <<<"$out")
  if [[ -z "$n" || "$n" -eq 0 ]] || grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    say "wrk failed or saw errors: $(tr '\n' ' ' <<<"$out" | tail -c 300)"
    [[ -n "$n" && "$n" -gt 0 ]] || return 1
  fi
  echo "$((t1 - t0)) $n $seconds"
}

# wrk's keep-alive run over TLS: 16 connections.
keepalive_run() { wrk_run "https://localhost:$PORT/" "$KA_SECONDS" -c16; }

# Prints "rss_delta_kb connections resumed": IDLE_CONNS handshaken idle connections
# (TLS 1.3, or 1.2 if the argument says 1.2).
idle_run() {
  local before after fifo cpid line i
  before=$(rss_kb "$PROXY_PID")
  fifo=$WORK/idle.fifo
  rm -f "$fifo"; mkfifo "$fifo"
  # The client keeps its connections until its stdin (the fifo) closes.
  taskset -c "$LOAD_CPU" python3 "$HERE/idle_client.py" "$PORT" "$IDLE_CONNS" bench.local "${1:-1.3}" "$CIPHER12" \
    <"$fifo" >"$WORK/idle.out" 2>&1 &
  cpid=$!
  PIDS+=("$cpid")
  exec 9>"$fifo"
  for i in $(seq 600); do
    grep -q '^ready' "$WORK/idle.out" 2>/dev/null && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1  # let the proxy finish every handshake and backend connect
  after=$(rss_kb "$PROXY_PID")
  line=$(grep '^ready' "$WORK/idle.out" || true)
  exec 9>&-
  wait "$cpid" 2>/dev/null || true
  forget_pid "$cpid"
  if [[ -z "$line" ]]; then say "idle client failed: $(tail -2 "$WORK/idle.out" | tr '\n' ' ')"; return 1; fi
  read -r _ n _ r <<<"$line"
  echo "$((after - before)) $n $r"
}

# One test on a freshly started proxy; appends the per-unit figure to WORK/NAME.TEST.
# CPU ticks per unit of work, in µs with DIGITS decimals; and in s per GiB.
per_unit_us() { awk -v t="$1" -v c="$CLK_TCK" -v n="$2" -v d="$3" 'BEGIN { printf "%.*f", d, t / c * 1e6 / n }'; }
per_gib() { awk -v t="$1" -v c="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.3f", (t / c) / (n / 1073741824) }'; }

one_test() {
  local name=$1 test=$2 run=$3 res ticks n r wall v
  PORT=$(free_port)
  if ! "start_$name" "$PORT" "$(backend_for "$test")" || ! { sleep 0.3; pin_tree "$PROXY_PID" "$name"; wait_tls "$PORT" "$PROXY_PID"; }; then
    say "$name did not start; last log lines:"
    tail -5 "$WORK/$name.log" >&2 2>/dev/null || true
    [[ -n "${PROXY_PID:-}" ]] && stop_pid "$PROXY_PID"
    return 0
  fi
  pin_tree "$PROXY_PID" "$name"
  res=""
  case $test in
    hs13) res=$(s_time_run -new -tls1_3 -ciphersuites "$CIPHERSUITE") ;;
    hs12) res=$(s_time_run -new -tls1_2 -cipher "$CIPHER12") ;;
    resumed) res=$(s_time_run -reuse -tls1_3 -ciphersuites "$CIPHERSUITE") ;;
    bulk1) res=$(bulk_run 1) ;;
    bulk16) res=$(bulk_run "$STREAMS") ;;
    keepalive) res=$(keepalive_run) ;;
    idle) res=$(idle_run) ;;
    bulk1_12) res=$(bulk_run 1 1.2) ;;
    idle12) res=$(idle_run 1.2) ;;
  esac || res=""
  kill -0 "$PROXY_PID" 2>/dev/null || say "$name exited during $test; see its log"
  stop_pid "$PROXY_PID"
  if [[ -z "$res" ]]; then RAW+=("| $name | $run | $test | failed | |"); say "$name $test run $run failed"; return 0; fi
  case $test in
    hs13 | hs12 | resumed)
      read -r ticks n r wall <<<"$res"
      v=$(per_unit_us "$ticks" "$n" 1)
      RAW+=("| $name | $run | $test | $n handshakes ($r resumed) in $wall s | $ticks | $v µs |")
      echo "$r $n" >>"$WORK/$name.$test.resumed" ;;
    bulk1 | bulk16 | bulk1_12)
      read -r ticks n wall <<<"$res"
      v=$(per_gib "$ticks" "$n")
      RAW+=("| $name | $run | $test | $n B in $wall s | $ticks | $v s/GiB |") ;;
    keepalive)
      read -r ticks n wall <<<"$res"
      v=$(per_unit_us "$ticks" "$n" 2)
      RAW+=("| $name | $run | $test | $n requests in $wall s | $ticks | $v µs |") ;;
    idle | idle12)
      read -r ticks n r <<<"$res"
      v=$(awk -v d="$ticks" -v n="$n" 'BEGIN { printf "%.1f", d * 1024 / n / 1000 }')
      RAW+=("| $name | $run | $test | $n connections ($r resumed), RSS +$ticks KiB | | $v KB |") ;;
  esac
  echo "$v" >>"$WORK/$name.$test"
  say "$name $test run $run: $v ($res)"
}

# The floor: an estimate, from below, of what a test's unit of work must cost on
# this machine. The kernel's part is measured by running the same load in plain
# text through bench/floor/relay.cpp (one thread, edge-triggered epoll, no TLS, no
# timers, no logs): new connections one at a time for the handshake rows, the
# downloads for bulk, wrk's keep-alive requests. The cryptography TLS adds is timed
# by `openssl speed` on the proxies' CPU: an RSA-2048 signature and an X25519
# shared secret per full handshake, the shared secret per resumed one, AES-128-GCM
# per byte for bulk and two 64-byte records per keep-alive request. Left out: the
# ephemeral key's generation, everything else a TLS library does (key schedule,
# transcript, tickets, handshake records), and the handshake's extra packets.

# Appends "name value" lines for the crypto floor (µs, or s per GiB); run once per
# run, like the loads, so that the median resists a noisy moment. A value openssl
# cannot give is "nan", and the rows that need it get no floor.
crypto_floor() {
  local rsa x rec gib
  rsa=$(taskset -c "$PROXY_CPU" openssl speed -mr -seconds 1 rsa2048 2>/dev/null |
    awk -F: '/^\+F2:/ { print 1e6 / $4 }') || true
  x=$(taskset -c "$PROXY_CPU" openssl speed -mr -seconds 1 ecdhx25519 2>/dev/null |
    awk -F: '/^\+F5:/ { print 1e6 / $4 }') || true
  rec=$(taskset -c "$PROXY_CPU" openssl speed -mr -seconds 1 -aead -evp aes-128-gcm -bytes 64 2>/dev/null |
    awk -F: '/^\+F:/ { print 64 / $4 * 1e6 }') || true
  gib=$(taskset -c "$PROXY_CPU" openssl speed -mr -seconds 1 -aead -evp aes-128-gcm -bytes 16384 2>/dev/null |
    awk -F: '/^\+F:/ { print 1073741824 / $4 }') || true
  printf '%s %s\n' rsa_sign "${rsa:-nan}" x25519 "${x:-nan}" aead_record "${rec:-nan}" aead_gib "${gib:-nan}" \
    >>"$WORK/floor.crypto"
  library_floor
}

# Appends "library_hs13 µs", "library_hs12 µs" and "library_resumed µs": the server's
# side of one handshake as OpenSSL 3.0 does it with its defaults (SSL_new, the
# handshake, SSL_free; RSA-2048, X25519, AES-128-GCM, a BIO pair in memory, no
# socket), from the Google Benchmark BM_ServerHandshakeBare, on the proxies' CPU.
# Every proxy here is built on this library and pays at least this per handshake.
library_floor() {
  [[ -x $FLOOR_BENCH ]] || return 0
  taskset -c "$PROXY_CPU" "$FLOOR_BENCH" --benchmark_filter='BM_ServerHandshakeBare/' \
    --benchmark_min_time=0.3 --benchmark_format=csv 2>/dev/null |
    awk -F, '
      function us(v, unit) { return unit == "ns" ? v / 1000 : unit == "ms" ? v * 1000 : unit == "s" ? v * 1e6 : v }
      /^"BM_ServerHandshakeBare\/772\/0\// { print "library_hs13", us($3, $5) }
      /^"BM_ServerHandshakeBare\/771\/0\// { print "library_hs12", us($3, $5) }
      /^"BM_ServerHandshakeBare\/772\/1\// { print "library_resumed", us($3, $5) }' >>"$WORK/floor.crypto" || true
}

# floor_plain_run KIND RUN: one plain-text run of a load through the floor relay;
# appends its cost per unit of work to $WORK/floor.plain.KIND (conn, bulk1,
# bulk16, keepalive).
floor_plain_run() {
  local kind=$1 run=$2 backend res="" ticks n v unit i
  case $kind in
    conn) backend=$ANSWER_PORT ;;
    bulk1 | bulk16) backend=$STREAM_PORT ;;
    keepalive) backend=$KA_PORT ;;
  esac
  PORT=$(free_port)
  taskset -c "$PROXY_CPU" "$FLOOR_RELAY" "$PORT" "$backend" 2>>"$WORK/floor.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  for i in $(seq 50); do curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/1" && break; sleep 0.1; done
  case $kind in
    # conn: one connection per request, one at a time, as s_time makes them.
    conn) res=$(wrk_run "http://127.0.0.1:$PORT/" "$HS_SECONDS" -c1 -H "Connection: close") ;;
    keepalive) res=$(wrk_run "http://127.0.0.1:$PORT/" "$KA_SECONDS" -c16) ;;
    bulk1) res=$(bulk_run 1 plain) ;;
    bulk16) res=$(bulk_run "$STREAMS" plain) ;;
  esac || res=""
  kill -0 "$PROXY_PID" 2>/dev/null || res=""
  stop_pid "$PROXY_PID"
  if [[ -z "$res" ]]; then
    say "floor $kind run $run failed"
    RAW+=("| plain relay | $run | $kind | failed | | |")
    return 0
  fi
  read -r ticks n _ <<<"$res"
  case $kind in
    bulk1 | bulk16) v=$(per_gib "$ticks" "$n"); unit="s/GiB"; n="$n B" ;;
    *) v=$(per_unit_us "$ticks" "$n" 2); unit="µs"; n="$n requests" ;;
  esac
  echo "$v" >>"$WORK/floor.plain.$kind"
  RAW+=("| plain relay | $run | $kind | $n | $ticks | $v $unit |")
  say "floor $kind run $run: $v $unit"
}

# The plain-relay loads the selected tests need.
floor_kinds() {
  local t out=""
  for t in $TESTS; do
    case $t in
      hs13 | hs12 | resumed) out+=" conn" ;;
      bulk1 | bulk1_12) out+=" bulk1" ;;
      bulk16) out+=" bulk16" ;;
      keepalive) out+=" keepalive" ;;
    esac
  done
  tr ' ' '\n' <<<"$out" | awk 'NF && !seen[$0]++'
}

# The floor's parts, for the report.
floor_summary() {
  local k m lo hi
  echo "Floor (the last two columns): an estimate, from below, of what the unit of work must"
  echo "cost on this machine. A plain relay (bench/floor/relay.cpp: one thread, edge-triggered"
  echo "epoll, no TLS; nearly all of its time is the kernel's) carries the same loads in plain"
  echo "text, and the cryptography TLS needs is added. Medians of $RUNS runs (min–max):"
  for k in $(floor_kinds); do
    read -r m lo hi < <(cat "$WORK/floor.plain.$k" 2>/dev/null | stats)
    case $k in
      conn) echo "- a plain relay, per connection (\`wrk -c1 -H 'Connection: close'\` to the handshake rows' backend): $(fmt "$m") µs ($(fmt "$lo")–$(fmt "$hi"))" ;;
      keepalive) echo "- a plain relay, per keep-alive request (the same wrk load in plain text): $(fmt "$m") µs ($(fmt "$lo")–$(fmt "$hi"))" ;;
      bulk1) echo "- a plain relay, per GiB forwarded (1 stream, curl in plain text): $(fmt "$m") s ($(fmt "$lo")–$(fmt "$hi"))" ;;
      bulk16) echo "- a plain relay, per GiB forwarded ($STREAMS streams, curl in plain text): $(fmt "$m") s ($(fmt "$lo")–$(fmt "$hi"))" ;;
    esac
  done
  echo "- an RSA-2048 signature, per full handshake: $(fmt "$(crypto_median rsa_sign)") µs (\`openssl speed rsa2048\` on CPU $PROXY_CPU)"
  echo "- an X25519 shared secret, per handshake: $(fmt "$(crypto_median x25519)") µs (\`openssl speed ecdhx25519\`)"
  echo "- an AES-128-GCM record of 64 bytes, two per keep-alive request: $(fmt "$(crypto_median aead_record)") µs (\`openssl speed -aead -evp aes-128-gcm -bytes 64\`)"
  echo "- AES-128-GCM in 16 KiB records: $(fmt "$(crypto_median aead_gib)") s per GiB (\`-bytes 16384\`)"
  echo
  echo "Left out, so the estimate stays low: the ephemeral X25519 key's generation, the TLS"
  echo "library's own work (key schedule, transcript hash, tickets, handshake records; the"
  echo "table below adds it for the handshake rows), the handshake's extra packets, and the"
  echo "larger keep-alive response record. A proxy that copies bytes through user space, as"
  echo "all four here do, cannot go below it; a floor / best peer above a target, by more"
  echo "than the runs' spread, means no such proxy can meet that target on this machine."
}

# Prints a test's floor: the plain relay's median plus the cryptography, or nan.
floor_of() {
  local t=$1 kind parts plain part c v
  case $t in
    hs13 | hs12) kind=conn; parts="rsa_sign x25519" ;;
    resumed) kind=conn; parts="x25519" ;;
    bulk1 | bulk1_12) kind=bulk1; parts="aead_gib" ;;
    bulk16) kind=bulk16; parts="aead_gib" ;;
    keepalive) kind=keepalive; parts="aead_record aead_record" ;;
    *) echo nan; return 0 ;;
  esac
  read -r plain _ < <(cat "$WORK/floor.plain.$kind" 2>/dev/null | stats)
  [[ $plain == nan ]] && { echo nan; return 0; }
  v=$plain
  for part in $parts; do
    c=$(crypto_median "$part")
    [[ -z $c || $c == nan ]] && { echo nan; return 0; }
    v=$(awk -v a="$v" -v b="$c" 'BEGIN { print a + b }')
  done
  echo "$v"
}

# The handshake rows again, with the TLS library's own server handshake in place of
# the signature and key exchange alone: what no proxy built on OpenSSL 3.0 can go
# below. Prints nothing when the benchmark did not run.
library_summary() {
  local t plain lib sum best vm target rows=""
  read -r plain _ < <(cat "$WORK/floor.plain.conn" 2>/dev/null | stats)
  for t in hs13 hs12 resumed; do
    [[ " $TESTS " == *" $t "* ]] || continue
    lib=$(crypto_median "library_$t")
    [[ -z $lib || $lib == nan || $plain == nan ]] && continue
    sum=$(awk -v a="$plain" -v b="$lib" 'BEGIN { print a + b }')
    best=$(best_peer "$t")
    read -r vm _ < <(cat "$WORK/vmsgate.$t" 2>/dev/null | stats)
    case $t in resumed) target="0.60×" ;; *) target="0.75×" ;; esac
    rows+="| $(test_title "$t") | $(fmt "$plain") | $(fmt "$lib") | $(fmt "$sum") | $(ratio "$sum" "$best") | $target | $(ratio "$vm" "$best") |"$'\n'
  done
  [[ -n $rows ]] || return 0
  echo "The handshake rows once more, with OpenSSL 3.0's own server handshake in place of the"
  echo "signature and key exchange: \`BM_ServerHandshakeBare\` (bench/handshake_bench.cpp), the"
  echo "server's SSL_new, handshake and SSL_free in memory with OpenSSL's defaults, the same"
  echo "suite, group and RSA-2048 key, thread CPU time on CPU $PROXY_CPU, median of $RUNS runs."
  echo "Every proxy here runs this code for each handshake and carries the connection"
  echo "through the kernel besides, so the sum is a floor for all of them; where its ratio"
  echo "to the best peer is above the target, no proxy on OpenSSL 3.0 can meet the target."
  echo "It still sits low: it leaves out the handshake's extra packets, and the benchmark"
  echo "runs handshakes back to back with warm caches, where a proxy runs the same"
  echo "instructions between the kernel's packet work."
  echo
  echo "| measure | plain relay per connection, µs | OpenSSL server handshake, µs | sum | sum / best peer | target | vmsgate / best peer |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s' "$rows"
}

# The best peer's median for a test (vmsgate left out), or nan.
best_peer() {
  local p m best=nan
  for p in $PROXIES; do
    [[ $p == vmsgate ]] && continue
    read -r m _ < <(cat "$WORK/$p.$1" 2>/dev/null | stats)
    [[ $m == nan ]] && continue
    if [[ $best == nan ]] || awk -v a="$m" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$m; fi
  done
  echo "$best"
}

# a / b as "0.00×", or n/a when either is missing.
ratio() {
  if [[ -z $1 || -z $2 || $1 == nan || $2 == nan ]]; then echo n/a; return 0; fi
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'
}

# The median over the runs of one cryptographic cost (see crypto_floor).
crypto_median() { awk -v k="$1" '$1 == k && $2 != "nan" { print $2 }' "$WORK/floor.crypto" 2>/dev/null | stats | cut -d' ' -f1; }

label() {
  case $1 in
    vmsgate) echo "vmsgate $("$VMSGATE" --version 2>/dev/null | head -1 | awk '{ print $2 }')" ;;
    vmsgate_sni) echo "vmsgate, route 2 of 2 on its port" ;;
    vmsgate_base) echo "vmsgate ${VMSGATE_BASE_COMMIT:-base build}" ;;
    haproxy) echo "HAProxy $(haproxy -v | sed -nE '1s/^HAProxy version ([^ ]+).*/\1/p')" ;;
    hitch) echo "hitch $(hitch --version 2>&1 | awk '{ print $2 }')" ;;
    nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*/||') stream" ;;
  esac
}

test_title() {
  case $1 in
    hs13) echo "full handshake TLS 1.3, CPU µs" ;;
    hs12) echo "full handshake TLS 1.2, CPU µs" ;;
    resumed) echo "resumed handshake TLS 1.3, CPU µs" ;;
    bulk1) echo "bulk 1 stream, CPU s per GiB" ;;
    bulk16) echo "bulk $STREAMS streams, CPU s per GiB" ;;
    keepalive) echo "keep-alive 100-byte requests, CPU µs each" ;;
    idle) echo "memory per idle TLS connection, KB" ;;
    bulk1_12) echo "bulk 1 stream TLS 1.2, CPU s per GiB" ;;
    idle12) echo "memory per idle TLS 1.2 connection, KB" ;;
  esac
}

fmt() { awk -v x="$1" 'BEGIN { if (x == "nan") print "nan"; else if (x >= 100) printf "%.0f", x; else if (x >= 10) printf "%.1f", x; else printf "%.2f", x }'; }

table() {
  local head="| measure |" sep="|---|" p t m lo hi best row vm fl
  for p in $PROXIES; do head+=" $(label "$p") |"; sep+="---:|"; done
  [[ " $PROXIES " == *" vmsgate "* ]] && { head+=" vmsgate / best peer |"; sep+="---:|"; }
  [[ $FLOOR == 1 ]] && { head+=" floor | floor / best peer |"; sep+="---:|---:|"; }
  echo "$head"; echo "$sep"
  for t in $TESTS; do
    row="| $(test_title "$t") |"; best=$(best_peer "$t"); vm=nan
    for p in $PROXIES; do
      read -r m lo hi < <(cat "$WORK/$p.$t" 2>/dev/null | stats)
      if [[ $m == nan ]]; then row+=" n/a |"; continue; fi
      row+=" $(fmt "$m") ($(fmt "$lo")–$(fmt "$hi")) |"
      [[ $p == vmsgate ]] && vm=$m
    done
    [[ " $PROXIES " == *" vmsgate "* ]] && row+=" $(ratio "$vm" "$best") |"
    if [[ $FLOOR == 1 ]]; then
      fl=$(floor_of "$t")
      if [[ $fl == nan ]]; then row+=" n/a | n/a |"
      else row+=" $(fmt "$fl") | $(ratio "$fl" "$best") |"
      fi
    fi
    echo "$row"
  done
}

resumption_proof() {
  local p t r n
  for t in hs13 hs12 resumed; do
    [[ " $TESTS " == *" $t "* ]] || continue
    for p in $PROXIES; do
      [[ -s "$WORK/$p.$t.resumed" ]] || continue
      read -r r n < <(awk '{ r += $1; n += $2 } END { print r, n }' "$WORK/$p.$t.resumed")
      echo "- $t, $p: $r of $n connections resumed"
    done
  done
}

# The commit the vmsgate binary was built from: VMSGATE_COMMIT when the binary comes
# from elsewhere, else this tree's HEAD, flagged when proxy/ has uncommitted changes.
commit_note() {
  if [[ -n "${VMSGATE_COMMIT:-}" ]]; then echo "commit $VMSGATE_COMMIT ($VMSGATE)"; return; fi
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- proxy 2>/dev/null || echo ", proxy/ with uncommitted changes")"
}

# The same commit as one word, for the section markers of RESULTS.md.
commit_id() {
  local id=${VMSGATE_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
  echo "${id// /_}"
}

# Shared with scaling.sh: the report in file $2 goes to OUT when that is set, or
# becomes the latest $1 section of RESULTS_FILE (the one it replaces moves to the
# top of History); then to stdout. RUN_DATE is the date the report names.
publish_report() {
  local kind=$1 report=$2 kept
  if [[ -n $OUT ]]; then
    cp "$report" "$OUT"
  elif ! results_update "$kind" "$report" "$RESULTS_FILE" "$RUN_DATE" "$(commit_id)"; then
    kept=$(mktemp --suffix=.md "/tmp/vmsgate-$kind-report.XXXXXX")
    cp "$report" "$kept"
    say "$RESULTS_FILE not updated; the report is in $kept"
  fi
  cat "$report"
}

report() {
  local elapsed=$(( $(date +%s) - START_TIME ))
  cat <<EOF
# Peer comparison: vmsgate, HAProxy, hitch, nginx stream

$RUN_DATE, $(nproc) CPUs ($(sed -nE '0,/^model name/s/^model name[^:]*: //p' /proc/cpuinfo)),
Linux $(uname -r), $(openssl version | cut -d' ' -f1-2), vmsgate $(commit_note),
load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); the run took $((elapsed / 60)) min $((elapsed % 60)) s.
${NOTE:+
$NOTE
}
Each cell: the proxy's own CPU time (utime + stime of its processes, /proc/PID/stat,
$CLK_TCK ticks/s) per unit of work, **median of $RUNS runs (min–max)**; memory is the
proxy's RSS growth (/proc/PID/status VmRSS) per connection. Lower is better. The
*vmsgate / best peer* column is vmsgate's median over the best peer's median (targets of issue 7: full
handshakes ≤ 0.75, resumed ≤ 0.6, bulk 16 streams ≤ 0.85, 1 stream ≤ 0.8, keep-alive
≤ 0.8, idle memory ≤ 0.5; the two TLS 1.2 rows at the end have none: they show what
sites whose Windows clients speak only TLS 1.2 get).

$(table)

How: one worker/thread per proxy, pinned to CPU $PROXY_CPU (re-pinned after start);
load generators and backends on CPU $LOAD_CPU; loopback; RSA-2048 leaf for every proxy;
each proxy is started afresh for each test and run, the runs interleave the proxies.
- full handshakes: \`openssl s_time -new -www / -time $HS_SECONDS\` (\`-tls1_3 -ciphersuites $CIPHERSUITE\`,
  or \`-tls1_2 -cipher $CIPHER12\`), one connection at a time, each a full handshake,
  the backend answers \`ok\` and closes; resumed: the same with \`-reuse\` (TLS 1.3 tickets).
- bulk: curl downloads $((BULK_BYTES / 1048576)) MiB through the proxy over 1 TLS 1.3 connection, or
  over $STREAMS parallel connections of $((BULK_BYTES / STREAMS / 1048576)) MiB each (\`curl --parallel\`);
  "TLS 1.2": over 1 TLS 1.2 connection with \`$CIPHER12\`.
- keep-alive: \`wrk -t1 -c16 -d${KA_SECONDS}s\` over TLS, nginx as the plain HTTP backend
  answering 100 bytes; wrk's few handshakes (and its session resumption) are noise
  next to tens of thousands of requests.
- idle: $IDLE_CONNS TLS 1.3 connections opened and handshaken one after the other
  (\`idle_client.py\`, no resumption), the backend holds its side; RSS after minus
  RSS before, divided by the connections; "TLS 1.2": the same with \`$CIPHER12\`.
- the proxies' defaults otherwise: vmsgate logs one JSON line per closed connection
  (to a file), the others log nothing per connection.

$([[ $FLOOR == 1 ]] && floor_summary)

$([[ $FLOOR == 1 ]] && library_summary)

Resumptions counted by the client (s_time marks each reused session):
$(resumption_proof)

Affinity as found just after start (pid:cpus), before re-pinning to CPU $PROXY_CPU:
$(for p in $PROXIES; do echo "- $p: ${AFFINITY_SEEN[$p]:-?}"; done)

<details><summary>Raw runs</summary>

| proxy | run | test | work | CPU ticks | per unit |
|---|---:|---|---|---:|---:|
$(printf '%s\n' "${RAW[@]:-| - | - | - | - | - | - |}")

</details>

Reproduce: \`bash bench/peers/run.sh\` (environment: VMSGATE, PROXIES, TESTS, RUNS,
HS_SECONDS, KA_SECONDS, BULK_BYTES, STREAMS, IDLE_CONNS, CIPHERSUITE, CIPHER12,
PROXY_CPU, LOAD_CPU, OUT, NOTE, VMSGATE_COMMIT, FLOOR, FLOOR_RELAY, FLOOR_BENCH). See bench/README.md.
EOF
}

main() {
  [[ $(nproc) -ge 2 ]] || say "warning: fewer than 2 CPUs; proxy and load share one"
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  install_peers
  make_pki
  start_backends
  declare -gA AFFINITY_SEEN=()
  RAW=()
  local run p t
  if [[ $FLOOR == 1 && ! -x $FLOOR_RELAY ]]; then
    say "no floor relay at $FLOOR_RELAY (cmake --build build --target vmsgate_floor_relay); no floor column"
    FLOOR=0
  fi
  for run in $(seq "$RUNS"); do
    for t in $TESTS; do
      for p in $PROXIES; do one_test "$p" "$t" "$run"; done
    done
    if [[ $FLOOR == 1 ]]; then
      crypto_floor
      for t in $(floor_kinds); do floor_plain_run "$t" "$run"; done
    fi
  done
  RUN_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
  report >"$WORK/report.md"
  publish_report peers "$WORK/report.md"
}

# Sourced by scaling.sh for its functions; run when executed.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
