#!/usr/bin/env bash
# The compose site (docker-compose.yml) in containers on a machine with podman and no
# Docker engine and no registry, as root:
#
#   bash docker/podman-site.sh up       # prepare, build the images, start the site
#   bash docker/podman-site.sh down     # remove every container, pod, network and volume of it
#   bash docker/podman-site.sh prepare  # only the base image and tools
#   bash docker/podman-site.sh build    # prepare, then the images
#
# What it needs and does (docs/containers.md):
# - podman, runc and debootstrap from Debian's packages (installed when missing);
# - podman's settings for such a machine (runc, cgroupfs, no raised rlimits) come from
#   docker/podman/containers.conf through CONTAINERS_CONF: no host file is changed;
# - no registry: a Debian 12 base image made with debootstrap (Debian's mirror is
#   reachable) and imported as debian:12 and debian:12-slim, once;
# - vmsgate:local from docker/Dockerfile as it is (Release build, non-root,
#   HEALTHCHECK), vmsgate-prometheus:local from Debian's prometheus package;
# - the site on the bridge network vmsgate-site (172.28.0.0/24): the pki job, then a
#   pod per host (its simulator and its gateway share the pod's network, so stopping
#   the simulator leaves the gateway serving), then Prometheus. Ports are published on
#   127.0.0.1 only: 8443 9443 (management), 7563 (rec01), 7564 (rec02), 8082 (mobile),
#   9473-9476 (the gateways' admin endpoints, same order), 9090 (Prometheus).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
export CONTAINERS_CONF="$here/podman/containers.conf"
mirror=${VMSGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
network=vmsgate-site
pods=(site-management site-rec01 site-rec02 site-mobile)
containers=(prometheus gw-management gw-rec01 gw-rec02 gw-mobile sim-management sim-rec01 sim-rec02 sim-mobile)
volumes=(vmsgate-ca vmsgate-pki)

say() { echo "podman-site: $*"; }

# As Debian's own slim images are made: no package cache, no package lists, no
# documentation but the copyright files, no manuals, no translations; dpkg told to
# leave them out of later installs too.
slim() {
  local dir=$1
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/man/* \
    "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/usr/share/groff/* "$dir"/usr/share/lintian/*
  find "$dir/usr/share/doc" -type f ! -name copyright -delete
  cat >"$dir/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
EOF
}

prepare() {
  if [ "$(id -u)" != 0 ]; then
    say "not run: containers need root here (rootless podman needs subuid ranges this script does not set up)"
    exit 77
  fi
  local missing=()
  for tool in podman runc debootstrap catatonit; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (Debian packages)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! podman image exists debian:12; then
    local dir
    dir=$(mktemp -d)
    trap 'rm -rf "${dir:-}"; trap - RETURN' RETURN
    say "no registry: making the base image debian:12 with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >/dev/null
    slim "$dir"
    tar -C "$dir" -c . | podman import -q - debian:12 >/dev/null
  fi
  podman image exists debian:12-slim || podman tag debian:12 debian:12-slim
}

build() {
  # The docker format keeps the HEALTHCHECK (OCI images have none); --network host
  # lets apt-get reach Debian's mirror while building.
  local common=(--pull=never --format docker --network host -q)
  say "building vmsgate:local from docker/Dockerfile"
  podman build "${common[@]}" --ignorefile "$here/Dockerfile.dockerignore" -f "$here/Dockerfile" -t vmsgate:local \
    "$root" >/dev/null
  say "building vmsgate-prometheus:local from Debian's prometheus"
  podman build "${common[@]}" -f "$here/prometheus-image/Dockerfile" -t vmsgate-prometheus:local \
    "$here/prometheus-image" >/dev/null
  say "vmsgate:local is $(podman image inspect vmsgate:local --format '{{.Size}}' | numfmt --to=si)B"
}

# A pod per host: its address on the site network and its published ports.
pod() {
  local name=$1 ip=$2
  shift 2
  local publish=()
  for p in "$@"; do publish+=(-p "127.0.0.1:$p"); done
  podman pod create --name "$name" --network "$network" --ip "$ip" "${publish[@]}" >/dev/null
}

# The image's HEALTHCHECK stays (`podman healthcheck run NAME` runs it); podman's
# timer for it needs systemd, which such a machine may lack: none is asked for.
gateway() {
  local pod=$1 name=$2 config=$3
  podman run -d -q --health-interval disable --pod "$pod" --name "$name" -v vmsgate-pki:/etc/vmsgate/pki:ro \
    -v "$here/site/$config:/etc/vmsgate/vmsgate.yaml:ro" vmsgate:local >/dev/null
}

sim() {
  local pod=$1 name=$2
  shift 2
  podman run -d -q --no-healthcheck --pod "$pod" --name "$name" vmsgate:local simulate "$@" >/dev/null
}

up() {
  prepare
  build
  down quiet
  podman network create --subnet 172.28.0.0/24 "$network" >/dev/null
  for v in "${volumes[@]}"; do podman volume create "$v" >/dev/null; done
  say "pki job: the site CA and certificates"
  podman run --rm -q --no-healthcheck --user 0:0 -v vmsgate-ca:/var/lib/vmsgate-ca -v vmsgate-pki:/etc/vmsgate/pki \
    -v "$here/pki-job.sh:/usr/local/bin/pki-job.sh:ro" --entrypoint /bin/sh vmsgate:local /usr/local/bin/pki-job.sh
  pod site-management 172.28.0.10 8443:8443 9443:9443 9473:9473
  pod site-rec01 172.28.0.11 7563:7563 9474:9473
  pod site-rec02 172.28.0.12 7564:7563 9475:9473
  pod site-mobile 172.28.0.13 8082:8082 9476:9473
  sim site-management sim-management management --http 127.0.0.1:8080 --link 127.0.0.1:9001
  sim site-rec01 sim-rec01 recording --name rec01 --listen 127.0.0.1:17563 --management 127.0.0.1:9000
  sim site-rec02 sim-rec02 recording --name rec02 --listen 0.0.0.0:17563
  sim site-mobile sim-mobile mobile --listen 127.0.0.1:18081
  gateway site-management gw-management management.yaml
  gateway site-rec01 gw-rec01 recording.yaml
  gateway site-rec02 gw-rec02 failover.yaml
  gateway site-mobile gw-mobile mobile.yaml
  podman run -d -q --name prometheus --network "$network" --ip 172.28.0.20 -p 127.0.0.1:9090:9090 \
    -v "$here/prometheus.yml:/etc/prometheus/prometheus.yml:ro" \
    -v "$root/deploy/prometheus/vmsgate-alerts.yml:/etc/prometheus/vmsgate-alerts.yml:ro" \
    vmsgate-prometheus:local >/dev/null
  say "up: $(podman ps -q | wc -l) containers; Prometheus http://127.0.0.1:9090, recording-live 127.0.0.1:7563"
}

down() {
  podman rm -f --ignore -t 2 "${containers[@]}" >/dev/null 2>&1 || true
  podman pod rm -f --ignore "${pods[@]}" >/dev/null 2>&1 || true
  podman network rm -f "$network" >/dev/null 2>&1 || true
  podman volume rm -f "${volumes[@]}" >/dev/null 2>&1 || true
  [ "${1:-}" = quiet ] || say "down: the site's containers, pods, network and volumes are gone (images kept)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  prepare) prepare ;;
  build) prepare; build ;;
  *) echo "usage: $0 up|down|prepare|build" >&2; exit 2 ;;
esac
