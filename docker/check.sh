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
# The compose `pki` job's own script, pointed at temporary directories.
mkdir "$dir/ca" "$dir/pki"
VMSGATE="$bin" VMSGATE_CA_DIR="$dir/ca" VMSGATE_PKI_OUT="$dir/pki" VMSGATE_CA_BITS=2048 sh pki-job.sh >/dev/null
test ! -e "$dir/pki/ca.key" || { echo "docker: the CA key reached the gateways' volume"; exit 1; }
owner=$([ "$(id -u)" = 0 ] && echo 10001 || id -u)
test "$(stat -c %a:%u "$dir/pki/rec01.example.local.key")" = "400:$owner" || { echo "docker: keys not 0400 uid $owner"; exit 1; }
for f in site/*.yaml; do
  cp "$f" "$dir/"
  out=$("$bin" check --config "$dir/$(basename "$f")") || { echo "$out"; exit 1; }
  # No warning either: the keys as the job leaves them are private enough.
  grep -q '^0 errors, 0 warnings$' <<<"$out" || { echo "$f: $out"; exit 1; }
done
echo "docker: compose file and $(ls site/*.yaml | wc -l) gateway configs check out"
