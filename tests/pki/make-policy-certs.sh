#!/usr/bin/env bash
# make-policy-certs.sh DIR: one certificate per broken policy rule, made with the
# openssl command line only (so the engine is not tested against its own issuer).
# See README-policy.md for what each file breaks.
set -euo pipefail

dir=${1:?usage: make-policy-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

rsa_key() { openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2:-2048}" -out "$1.key" 2>/dev/null; }

# A self-signed CA: ca NAME CN DAYS
ca() {
  rsa_key "$1"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days "$3" -sha256 -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
}

# The extensions of a leaf: ext_file SAN [EKU]; an empty EKU leaves the extension out.
ext_file() {
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    echo "subjectAltName=$1"
    if [ -n "${2-}" ]; then echo "extendedKeyUsage=$2"; fi
  } > ext.cnf
}

# A leaf signed with `openssl ca`, which alone can set arbitrary validity dates:
# leaf NAME KEY ISSUER START END SAN [EKU] (dates as YYYYMMDDHHMMSSZ).
leaf() {
  local name=$1 key=$2 issuer=$3 start=$4 end=$5 san=$6 eku=${7-}
  ext_file "$san" "$eku"
  : > index.txt
  cat > ca.cnf <<CNF
[ca]
default_ca = site
[site]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationalUnitName = optional
CNF
  openssl rand -hex 16 > serial.txt
  openssl req -new -key "$key.key" -subj "/OU=recording/CN=${san#DNS:}" -out "$name.csr"
  openssl ca -batch -notext -config ca.cnf -cert "$issuer.pem" -keyfile "$issuer.key" -in "$name.csr" \
    -out "$name.pem" -startdate "$start" -enddate "$end" -extfile ext.cnf 2>/dev/null
  rm -f "$name.csr" ./*.pem.old index.txt* serial.txt* ca.cnf ext.cnf ./[0-9A-F]*.pem
}

date_in() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
now=$(date_in "1 hour ago")
year=$(date_in "+365 days")
name=DNS:rec01.example.local

ca ca "policy test CA" 3650
ca other-ca "unrelated CA" 3650
ca soon-ca "expiring CA" 10
rsa_key leaf
rsa_key other
rsa_key small 1024
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ecdsa.key

leaf good leaf ca "$now" "$year" "$name" serverAuth
leaf untrusted leaf other-ca "$now" "$year" "$name" serverAuth
leaf wrong-name leaf ca "$now" "$year" DNS:rec02.example.local serverAuth
leaf expired leaf ca "$(date_in '400 days ago')" "$(date_in '1 day ago')" "$name" serverAuth
leaf not-yet-valid leaf ca "$(date_in '+2 days')" "$year" "$name" serverAuth
leaf soon leaf ca "$now" "$(date_in '+10 days')" "$name" serverAuth
leaf ecdsa ecdsa ca "$now" "$year" "$name" serverAuth
leaf small small ca "$now" "$year" "$name" serverAuth
leaf client-only leaf ca "$now" "$year" "$name" clientAuth
leaf no-eku leaf ca "$now" "$year" "$name" ""
# Valid for a year, but its CA expires in 10 days: only the CA warns.
leaf soon-ca-leaf leaf soon-ca "$now" "$year" "$name" serverAuth

# The key files a route may name beside its certificate.
cp leaf.key loose.key && chmod 0644 loose.key
echo "not a key" > garbage.key
chmod 0644 ./*.pem
