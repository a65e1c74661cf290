#!/usr/bin/env bash
# Installs the Debian packages tsc needs to build and test, if any are missing.
# Usage: scripts/install-deps.sh [extra-package …]
set -euo pipefail

# libopenmpi-dev and openmpi-bin: libtdlrt_mpi, its tests and train_mpi
# (optional: without them those are left out and their test says so).
packages=(build-essential cmake pkgconf flex bison libopenblas-dev libcmocka-dev
          libcjson-dev zlib1g-dev libxsmm-dev libopenmpi-dev openmpi-bin
          # the portable runtime's ARM tests (tests/portable/arm); the ARM C
          # library's headers are only recommended by the cross compiler, and
          # this script installs no recommendations; qemu-user also runs the
          # runtime's tests on emulated x86-64 CPUs (tests/isa)
          gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user gcc-arm-none-eabi libnewlib-arm-none-eabi
          "$@")

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
