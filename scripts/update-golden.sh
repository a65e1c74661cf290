#!/usr/bin/env bash
# Regenerates tests/diagnostics/*.stderr from the tsc in a build directory,
# exactly as the golden tests run it (--check and NAME.args if present, in
# tests/diagnostics, NO_COLOR=1).
# Review the result with `git diff tests/diagnostics` before committing it.
# Usage: scripts/update-golden.sh [build-dir] [name …]   (default: build, all files)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build}"
shift || true
case "$build" in /*) ;; *) build="$root/$build" ;; esac
tsc="$build/compiler/tsc"
[ -x "$tsc" ] || { echo "update-golden.sh: no tsc at $tsc (build first)" >&2; exit 2; }

cd "$root/tests/diagnostics"
if [ $# -gt 0 ]; then names=("$@"); else names=(*.tdl); fi
for tdl in "${names[@]}"; do
  name="${tdl%.tdl}"
  [ -f "$name.tdl" ] || { echo "update-golden.sh: no $name.tdl" >&2; exit 2; }
  status=0
  extra=()   # NAME.args: more arguments, one per line (--weights FILE)
  if [ -f "$name.args" ]; then mapfile -t extra < "$name.args"; fi
  NO_COLOR=1 "$tsc" --check "${extra[@]}" "$name.tdl" 2>"$name.stderr" >/dev/null || status=$?
  if [ "$status" -gt 1 ]; then
    echo "update-golden.sh: tsc exited with $status on $name.tdl (see $name.stderr)" >&2
    exit 2
  fi
  echo "$name.stderr (exit $status)"
done
echo "Now review: git diff -- tests/diagnostics"
