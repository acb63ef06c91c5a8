#!/bin/sh
# The site's one-shot pki job (docker-compose.yml's `pki` service, docker/podman-site.sh
# and docker/check.sh): as root, the site CA and every certificate, once, in the CA's
# directory (the `ca` volume); then the gateways' share copied to theirs (the `pki`
# volume): certificates 0444, each key 0400 owned by the runtime user (uid 10001),
# the CA key never. The environment can point it elsewhere (check.sh does).
set -e
vmsgate=${VMSGATE:-vmsgate}
ca_dir=${VMSGATE_CA_DIR:-/var/lib/vmsgate-ca}
out=${VMSGATE_PKI_OUT:-/etc/vmsgate/pki}
cd "$ca_dir"
if [ ! -f ca.pem ]; then
  "$vmsgate" pki init --dir . --name "vmsgate compose CA" ${VMSGATE_CA_BITS:+--bits "$VMSGATE_CA_BITS"}
  "$vmsgate" pki issue --dir . --role management --host mgmt01.example.local --ip 172.28.0.10
  "$vmsgate" pki issue --dir . --role recording --host rec01.example.local --ip 172.28.0.11 --client
  "$vmsgate" pki issue --dir . --role recording --host rec02.example.local --ip 172.28.0.12
  "$vmsgate" pki issue --dir . --role mobile --host mobile.example.local --ip 172.28.0.13
fi
# Owners can be given only by root (check.sh may run as anyone: then they stay its own).
root=; key_owner=
if [ "$(id -u)" = 0 ]; then root="-o 0 -g 0"; key_owner="-o 10001 -g 10001"; fi
for f in *.pem; do install -m 0444 $root "$f" "$out/"; done
for f in *.key; do test "$f" = ca.key || install -m 0400 $key_owner "$f" "$out/"; done
