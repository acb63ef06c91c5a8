#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs
# `vmsgate demo`: a throwaway site PKI, simulated management, recording (with a
# failover) and mobile servers, and a gateway per role in front of them. It prints
# how to connect to each route and where the metrics are; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache (when installed) keys on paths relative to the clone, so that another clone
# of the same tree, or a build directory made anew, hits the same cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
VMSGATE_DEMO_DEPS=1 bash scripts/install-deps.sh
# Only the binary: the tests and benchmarks are the test command's.
VMSGATE_TARGET=vmsgate bash scripts/build.sh build
exec build/proxy/vmsgate demo "$@"
