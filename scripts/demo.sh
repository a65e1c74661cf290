#!/usr/bin/env bash
# Installs what is missing, builds tsc, and shows it on the Fashion-MNIST model
# and on one file of the error gallery.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" >/dev/null

model=examples/fashion_mnist/fashion_cnn.tdl
echo "\$ tsc --summary $model"
build/compiler/tsc --summary "$model"
echo
echo "\$ tsc --check $model"
build/compiler/tsc --check "$model" && echo "ok: no errors"
echo
bad=examples/errors/dense_on_feature_map.bad.tdl
echo "\$ tsc --check $bad"
build/compiler/tsc --check "$bad" || echo "(exit status $?: the build would stop here)"
