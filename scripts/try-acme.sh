#!/usr/bin/env bash
# Try ACME on this machine, on loopback only: pebble (Debian's ACME test server)
# plays the site's internal ACME CA, and a vmsgate route in front of a simulated
# mobile server gets its certificate from it over tls-alpn-01, with no file to
# begin with. Then curl fetches the mobile page through the gateway, verifying the
# certificate pebble issued.
#
#   scripts/try-acme.sh [--check]     (--check: stop once it has been shown to work)
#
# Needs: pebble, curl, openssl (scripts/install-deps.sh installs them with the test
# dependencies) and a built vmsgate (VMSGATE=path, default build/proxy/vmsgate).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VMSGATE:-$here/build/proxy/vmsgate}
check_only=0
[ "${1:-}" = --check ] && check_only=1
for tool in pebble pebble-challtestsrv curl openssl; do
  command -v "$tool" >/dev/null || { echo "try-acme: $tool is missing (apt-get install pebble curl openssl)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "try-acme: no vmsgate at $bin (build it, or set VMSGATE)" >&2; exit 1; }

# Ports: the route's is also pebble's tls-alpn-01 port, since the CA validates there.
route_port=${ROUTE_PORT:-5001}
api_port=${PEBBLE_PORT:-14000}
mgmt_port=$((api_port + 1000))
dns_port=${DNS_PORT:-8053}
mobile_port=${MOBILE_PORT:-18082}
admin_port=${ADMIN_PORT:-9479}
name=mobile.acme.test

dir=$(mktemp -d /tmp/vmsgate-try-acme.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pebble's own HTTPS certificate, and the CA the gateway trusts it by (acme.ca).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=pebble API CA" \
  -keyout "$dir/api-ca.key" -out "$dir/api-ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$dir/api.key" -out "$dir/api.csr" 2>/dev/null
openssl x509 -req -in "$dir/api.csr" -CA "$dir/api-ca.pem" -CAkey "$dir/api-ca.key" -CAcreateserial -days 1 \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost') -out "$dir/api.pem" 2>/dev/null
cat >"$dir/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$api_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
  "certificate": "$dir/api.pem", "privateKey": "$dir/api.key", "httpPort": 5002, "tlsPort": $route_port,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON

# pebble's DNS says 127.0.0.1 for every name, so its validation comes to the route.
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" \
  -tlsalpn01 "" -management "127.0.0.1:$((dns_port + 1))" >"$dir/dns.log" 2>&1 &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$dir/pebble.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "ACME directory available" "$dir/pebble.log" && break; sleep 0.1; done
grep -q "ACME directory available" "$dir/pebble.log" || { cat "$dir/pebble.log" >&2; exit 1; }
# The root pebble issues under: the role's CA.
curl -fsS --cacert "$dir/api-ca.pem" "https://127.0.0.1:$mgmt_port/roots/0" -o "$dir/pebble-root.pem"

"$bin" simulate mobile --listen "127.0.0.1:$mobile_port" >"$dir/mobile.log" 2>&1 &
pids+=($!)
mkdir -m 0700 "$dir/acme"
cat >"$dir/vmsgate.yaml" <<YAML
admin:
  listen: 127.0.0.1:$admin_port
roles:
  mobile:
    ca: pebble-root.pem          # the ACME CA's root: what the role's policy checks against
routes:
  - name: mobile
    role: mobile
    listen: 127.0.0.1:$route_port
    server_names: [$name]
    cert: acme/mobile.pem        # not there yet: ACME obtains it
    key: acme/mobile.key
    backends: ["127.0.0.1:$mobile_port"]
    acme:
      directory: https://127.0.0.1:$api_port/dir
      contact: mailto:ops@acme.test
      challenge: tls-alpn-01
      ca: api-ca.pem             # trust for the ACME server's own HTTPS
      renew_before: 33%
YAML
echo "== vmsgate check (the certificate is pending, not an error):"
"$bin" check --config "$dir/vmsgate.yaml" || true
"$bin" run --config "$dir/vmsgate.yaml" 2>"$dir/vmsgate.log" &
pids+=($!)
for _ in $(seq 600); do grep -q '"event":"acme_renewed"' "$dir/vmsgate.log" && break; sleep 0.1; done
if ! grep -q '"event":"acme_renewed"' "$dir/vmsgate.log"; then
  echo "try-acme: no certificate within 60 s; the gateway's log:" >&2
  cat "$dir/vmsgate.log" >&2
  exit 1
fi
echo "== the gateway's ACME log lines:"
grep '"event":"acme_' "$dir/vmsgate.log"
echo "== the certificate it serves:"
openssl s_client -connect "127.0.0.1:$route_port" -servername "$name" -CAfile "$dir/pebble-root.pem" \
  -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -enddate
echo "== the mobile page through the gateway, verified:"
curl -fsS --max-time 10 --cacert "$dir/pebble-root.pem" --resolve "$name:$route_port:127.0.0.1" \
  "https://$name:$route_port/" | grep -o '<title>[^<]*</title>'
echo "== its metrics:"
curl -fsS "http://127.0.0.1:$admin_port/metrics" | grep '^vmsgate_acme_'
[ "$check_only" = 1 ] && exit 0
echo
echo "Running in $dir. Try: curl --cacert $dir/pebble-root.pem --resolve $name:$route_port:127.0.0.1 https://$name:$route_port/"
echo "Ctrl-C stops pebble, the simulator and the gateway, and removes the directory."
wait
