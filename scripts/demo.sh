#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs
# `vmsgate demo`: a throwaway site PKI, simulated management, recording (with a
# failover) and mobile servers, and a gateway per role in front of them. It prints
# how to connect to each route and where the metrics are; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
VMSGATE_DEMO_DEPS=1 bash scripts/install-deps.sh
# Only the binary: the tests and benchmarks are the test command's.
VMSGATE_TARGET=vmsgate bash scripts/build.sh build
exec build/proxy/vmsgate demo "$@"
