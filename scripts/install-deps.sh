#!/usr/bin/env bash
# Installs, from Debian 12's own packages, whatever the build and the tests need
# and this machine lacks. Safe to run again: it installs nothing twice.
set -euo pipefail

packages=(
  build-essential cmake g++ pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev libsystemd-dev libcli11-dev libturbojpeg0-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  openssl curl iproute2 procps ca-certificates
)
if [ "${VMSGATE_DEMO_DEPS:-0}" = 1 ]; then
  packages+=(python3)
fi
if [ "${VMSGATE_TEST_DEPS:-0}" = 1 ]; then
  packages+=(haproxy prometheus docker-compose systemd)
  # The ACME client's tests run against pebble, the ACME test server, on loopback.
  packages+=(pebble)
  # The demo's pictures in real players: ffmpeg decodes the recording route's MJPEG,
  # headless Chromium (with certutil for its own NSS database) opens the mobile page.
  packages+=(ffmpeg chromium libnss3-tools)
  # The compose site in containers (docker/podman-site.sh): podman with runc and
  # catatonit (its pods' pause process), debootstrap for a base image where no
  # registry is reachable.
  packages+=(podman runc debootstrap catatonit)
  # kubectl kustomize renders deploy/k8s offline; any kubectl will do (another
  # package may already provide /usr/bin/kubectl, and would conflict with Debian's).
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
  # scripts/fuzz.sh: libFuzzer and its sanitizer runtimes come with clang.
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
