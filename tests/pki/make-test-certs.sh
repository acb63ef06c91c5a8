#!/usr/bin/env bash
# Makes the throwaway PKI that the integration tests use; see README.md beside this
# script for what each file is. Usage: make-test-certs.sh DIR
#
# Idempotent: when every file already exists and the server certificate still
# verifies against the CA, nothing is regenerated, so repeated runs are cheap.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

files=(ca.pem ca.key rec01.pem rec01.key other-ca.pem other-ca.key other.pem other.key client.pem client.key)
complete=1
for f in "${files[@]}"; do
  [[ -s $f ]] || complete=0
done
if [[ $complete -eq 1 ]] && openssl verify -CAfile ca.pem rec01.pem client.pem >/dev/null 2>&1 &&
  openssl verify -CAfile other-ca.pem other.pem >/dev/null 2>&1; then
  exit 0
fi

days=30
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

new_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# make_ca NAME CN: a self-signed CA certificate NAME.pem with key NAME.key.
make_ca() {
  local name=$1 cn=$2
  new_key "$name.key"
  openssl req -x509 -new -key "$name.key" -sha256 -days "$days" -subj "/CN=$cn" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$name.pem"
}

# make_leaf NAME CN CA EKU SAN: a leaf certificate NAME.pem (leaf only) signed by CA.
make_leaf() {
  local name=$1 cn=$2 ca=$3 eku=$4 san=$5
  new_key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$tmp/$name.csr"
  cat >"$tmp/$name.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  openssl x509 -req -in "$tmp/$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -CAserial "$tmp/$ca.srl" -sha256 -days "$days" -extfile "$tmp/$name.ext" -out "$name.pem" 2>/dev/null
}

make_ca ca "vmsgate test CA"
make_leaf rec01 rec01.example.local ca serverAuth "DNS:rec01.example.local,DNS:localhost,IP:127.0.0.1"
make_leaf client mgmt01.example.local ca clientAuth "DNS:mgmt01.example.local"
make_ca other-ca "unrelated test CA"
make_leaf other rec01.example.local other-ca serverAuth "DNS:rec01.example.local,DNS:localhost,IP:127.0.0.1"

chmod 600 ./*.key
chmod 644 ./*.pem
