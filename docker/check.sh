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
mkdir "$dir/pki"
"$bin" pki init --dir "$dir/pki" --bits 2048 >/dev/null
"$bin" pki issue --dir "$dir/pki" --role management --host mgmt01.example.local --ip 172.28.0.10 >/dev/null
"$bin" pki issue --dir "$dir/pki" --role recording --host rec01.example.local --ip 172.28.0.11 --client >/dev/null
"$bin" pki issue --dir "$dir/pki" --role recording --host rec02.example.local --ip 172.28.0.12 >/dev/null
"$bin" pki issue --dir "$dir/pki" --role mobile --host mobile.example.local --ip 172.28.0.13 >/dev/null
for f in site/*.yaml; do
  cp "$f" "$dir/"
  "$bin" check --config "$dir/$(basename "$f")" >/dev/null || { "$bin" check --config "$dir/$(basename "$f")"; exit 1; }
done
echo "docker: compose file and $(ls site/*.yaml | wc -l) gateway configs check out"
