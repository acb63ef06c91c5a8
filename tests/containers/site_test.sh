#!/usr/bin/env bash
# The compose site for real, in containers (docker/podman-site.sh): the image built
# from docker/Dockerfile, the pki job, a pod per host with its simulator and gateway,
# Prometheus. From the host, through the published loopback ports: a byte-checked live
# stream through the recording gateway, the management API through its gateway
# showing rec01's mutual-TLS uplink, the mobile stream, each gateway's /readyz, the
# image's HEALTHCHECK, Prometheus's targets all up, and the failover when the rec01
# container stops. Then everything torn down. Exit 77 (not run) without root.
#   bash tests/containers/site_test.sh path/to/vmsgate
set -uo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
site="$here/../../docker/podman-site.sh"
export CONTAINERS_CONF="$here/../../docker/podman/containers.conf"

fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
  bash "$site" down
  rm -rf "$tmp"
}

# Retries `cmd` every second until it succeeds or `seconds` pass.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@"
}

started=$(date +%s)
bash "$site" up
rc=$?
[ $rc = 77 ] && exit 77
tmp=$(mktemp -d)
trap cleanup EXIT
[ $rc = 0 ] || fail "the site did not come up (podman-site.sh up: exit $rc)"
echo "site up in $(($(date +%s) - started)) s"

for port in 9473 9474 9475 9476; do
  wait_for 90 curl -fsS --max-time 5 "http://127.0.0.1:$port/readyz" || fail "gateway admin :$port is not ready"
done
echo "every gateway ready"

test "$(podman exec gw-rec01 id -u)" = 10001 || fail "the gateway does not run as the image's user"
podman image inspect vmsgate:local --format '{{json .HealthCheck}}' | grep -q /healthz ||
  fail "the image lost its HEALTHCHECK"
podman healthcheck run gw-rec01 || fail "the HEALTHCHECK of gw-rec01 fails"

podman exec gw-rec01 cat /etc/vmsgate/pki/ca.pem >"$tmp/ca.pem" || fail "no CA in the pki volume"
live() {
  "$bin" simulate client live --connect 127.0.0.1:7563 --tls --ca "$tmp/ca.pem" --sni rec01.example.local \
    --camera 3 --seconds 2
}
out=$(live) || fail "live stream through gw-rec01: $out"
grep -q '"server":"rec01"' <<<"$out" || fail "live stream did not come from rec01: $out"
echo "live: $out"

out=$("$bin" simulate client mjpeg --connect 127.0.0.1:8082 --tls --ca "$tmp/ca.pem" --sni mobile.example.local \
  --seconds 2) || fail "mobile stream through gw-mobile: $out"
echo "mobile: $out"

uplink() {
  local status
  status=$(curl -fsS --max-time 5 --cacert "$tmp/ca.pem" --resolve mgmt01.example.local:8443:127.0.0.1 \
    https://mgmt01.example.local:8443/api/status) || return 1
  grep -q '"name":"rec01","connected":true' <<<"$status"
}
wait_for 30 uplink || fail "rec01's uplink through gw-rec01 (mutual TLS) is not on the management server"
echo "uplink: rec01 connected to the management server through both gateways"

targets() {
  local json
  json=$(curl -fsS --max-time 5 http://127.0.0.1:9090/api/v1/targets) || return 1
  [ "$(grep -o '"health":"up"' <<<"$json" | wc -l)" = 4 ]
}
wait_for 60 targets || fail "Prometheus does not see the 4 gateways up: $(curl -sS --max-time 5 http://127.0.0.1:9090/api/v1/targets)"
echo "prometheus: 4 gateways up"

podman stop -t 2 sim-rec01 >/dev/null || fail "cannot stop sim-rec01"
out=$(live) || fail "no failover after rec01 stopped: $out"
grep -q '"server":"rec02"' <<<"$out" || fail "after rec01 stopped the stream did not come from rec02: $out"
echo "failover: $out"

trap - EXIT
cleanup
left=$(podman ps -a --format '{{.Names}}' | grep -E '^(sim|gw)-|^prometheus$' || true)
[ -z "$left" ] || fail "containers left behind: $left"
! podman network exists vmsgate-site || fail "network vmsgate-site left behind"
! podman volume exists vmsgate-pki || fail "volume vmsgate-pki left behind"
echo "PASS in $(($(date +%s) - started)) s"
