#!/usr/bin/env bash
# Installs what is missing, builds tsc and libtdlrt, and runs the whole test suite.
# Usage: scripts/test.sh [build-dir] [extra cmake args …]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

scripts/install-deps.sh
cmake -S . -B "$build" "$@"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
