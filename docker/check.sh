#!/usr/bin/env bash
# Checks the compose site without a Docker engine: the compose file as
# docker-compose reads it, and every gateway config with `vmsgate check` against a
# PKI made the way the compose `pki` service makes it.
#   bash docker/check.sh [path/to/vmsgate]
set -euo pipefail
bin=$(realpath "${1:-$(dirname "$0")/../build/proxy/vmsgate}")
cd "$(dirname "$0")"
docker-compose -f docker-compose.yml config -q
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Prometheus's config with the alerting rules beside it, as the compose file mounts them.
mkdir "$dir/prometheus"
cp prometheus.yml ../deploy/prometheus/vmsgate-alerts.yml "$dir/prometheus/"
promtool check config "$dir/prometheus/prometheus.yml" >/dev/null
# As the compose `pki` job does: the CA in a directory of its own, then the
# certificates (0444) and every key but the CA's (0400) copied out for the gateways.
mkdir "$dir/ca" "$dir/pki"
(
  cd "$dir/ca"
  "$bin" pki init --dir . --bits 2048 >/dev/null
  "$bin" pki issue --dir . --role management --host mgmt01.example.local --ip 172.28.0.10 >/dev/null
  "$bin" pki issue --dir . --role recording --host rec01.example.local --ip 172.28.0.11 --client >/dev/null
  "$bin" pki issue --dir . --role recording --host rec02.example.local --ip 172.28.0.12 >/dev/null
  "$bin" pki issue --dir . --role mobile --host mobile.example.local --ip 172.28.0.13 >/dev/null
  for f in *.pem; do install -m 0444 "$f" "$dir/pki/"; done
  for f in *.key; do test "$f" = ca.key || install -m 0400 "$f" "$dir/pki/"; done
)
test ! -e "$dir/pki/ca.key" || { echo "docker: the CA key reached the gateways' volume"; exit 1; }
# The job's own command must do the same (the loops above are its loops).
grep -q 'test "$$f" = ca.key || install -m 0400' docker-compose.yml
grep -q 'install -m 0444 -o 0 -g 0 "$$f" /etc/vmsgate/pki/' docker-compose.yml
for f in site/*.yaml; do
  cp "$f" "$dir/"
  out=$("$bin" check --config "$dir/$(basename "$f")") || { echo "$out"; exit 1; }
  # No warning either: the keys as the job leaves them are private enough.
  grep -q '^0 errors, 0 warnings$' <<<"$out" || { echo "$f: $out"; exit 1; }
done
echo "docker: compose file and $(ls site/*.yaml | wc -l) gateway configs check out"
