#!/usr/bin/env bash
# Runs one test executable on an emulated x86-64 CPU:
#   run_on_cpu.sh QEMU_CPU_MODEL OPENBLAS_CORE EXECUTABLE [ARGUMENT …]
# OpenBLAS is told the emulated CPU's core type: the one this environment
# sets (OPENBLAS_CORETYPE) names the build machine's, whose instructions the
# emulated CPU may lack. Exits 77 (skipped) without qemu-x86_64, which
# scripts/install-deps.sh installs (Debian package qemu-user).
set -euo pipefail
model=$1
core=$2
shift 2
if ! command -v qemu-x86_64 >/dev/null; then
  echo "SKIP: qemu-x86_64 is not installed (Debian package qemu-user)"
  exit 77
fi
export OPENBLAS_CORETYPE=$core
exec qemu-x86_64 -cpu "$model" "$@"
