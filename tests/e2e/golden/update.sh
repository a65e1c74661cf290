#!/bin/sh
# Regenerates the golden C of tests/e2e/golden/*.tdl after an intended change
# of the code generator. Usage: tests/e2e/golden/update.sh [path/to/tsc]
# (default: build/compiler/tsc). Review the diff before committing it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tsc=${1:-"$here/../../../build/compiler/tsc"}
if [ ! -x "$tsc" ]; then
    echo "update.sh: no tsc at $tsc (pass the path of a built tsc)" >&2
    exit 2
fi
for model in "$here"/*.tdl; do
    "$tsc" -o "$here" "$model"
    echo "regenerated $(basename "$model" .tdl).h and .c"
done
