#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the demo.
#
# Until `vmsgate demo` (issue 9) exists, this script is the demo: it makes a
# throwaway site PKI with `vmsgate pki`, starts a stand-in legacy recording server
# (python3's HTTP server over a generated "video" file) on 127.0.0.1:17563, and runs
# the gateway in front of it on 127.0.0.1:7563, with the admin endpoint on :9473.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
VMSGATE_DEMO_DEPS=1 bash scripts/install-deps.sh
bash scripts/build.sh build
bin=build/proxy/vmsgate


run=demo-run
rm -rf "$run"
mkdir -p "$run/pki" "$run/www"
"$bin" pki init --dir "$run/pki" --name "vmsgate demo CA" >/dev/null
"$bin" pki issue --dir "$run/pki" --role recording --host rec01.example.local --ip 127.0.0.1 >/dev/null
head -c $((64 * 1024 * 1024)) /dev/urandom > "$run/www/camera1.ts"

cat > "$run/vmsgate.yaml" <<YAML
admin:
  listen: "127.0.0.1:9473"
workers: 0
limits:
  idle_timeout: 1h
roles:
  recording:
    ca: pki/ca.pem
routes:
  - name: recording-live
    role: recording
    mode: terminate
    listen: "127.0.0.1:7563"
    server_names: [rec01.example.local]
    cert: pki/rec01.example.local.pem
    key: pki/rec01.example.local.key
    backends: ["127.0.0.1:17563"]
YAML

python3 -m http.server 17563 --bind 127.0.0.1 --directory "$run/www" >/dev/null 2>&1 &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT

cat <<MSG
vmsgate demo (interim: 'vmsgate demo' itself arrives with issue 9)
  legacy recording server (plain HTTP): 127.0.0.1:17563, python3 http.server
  gateway, terminate route recording-live: https://rec01.example.local:7563 (TLS, RSA, verified)

Fetch a 64 MiB "video" over verified TLS and compare it with the original:
  curl --cacert $run/pki/ca.pem --resolve rec01.example.local:7563:127.0.0.1 \\
       https://rec01.example.local:7563/camera1.ts | sha256sum; sha256sum $run/www/camera1.ts
Inspect the handshake:
  openssl s_client -connect 127.0.0.1:7563 -servername rec01.example.local -CAfile $run/pki/ca.pem -verify_hostname rec01.example.local </dev/null
Health: curl http://127.0.0.1:9473/healthz
Ctrl-C drains and stops.

MSG
"$bin" run --config "$run/vmsgate.yaml"
