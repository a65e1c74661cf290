#!/bin/sh
# Builds and runs every libFuzzer harness of tests/fuzz for a while.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME ...]
#
# Configures BUILD_DIR as a clang build with TSC_FUZZ=ON and TSC_SANITIZE=ON,
# the libraries instrumented for coverage, builds the fuzz_* targets, and runs
# each for SECONDS with a copy of its seed corpus (tests/fuzz/corpus_NAME if
# it exists, else tests/fuzz/corpus), so the repository is never written to.
# A dictionary tests/fuzz/NAME.dict is used when present. New inputs and any
# crash reproducer stay in BUILD_DIR/fuzz-work/NAME/. Exits non-zero as soon
# as a fuzzer finds a crash, a leak or undefined behaviour.
#
# With NAMEs (fuzz_structured …) only those harnesses are built and run, so a
# long campaign can be split. JOBS sets the build's parallelism (default 2):
# JOBS=1 leaves a core free on a shared machine.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [NAME ...]" >&2
    exit 2
fi
build_dir=$1
seconds=$2
shift 2
only="$*"
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$fuzz_dir/../.." && pwd)

cmake -S "$source_dir" -B "$build_dir" \
    -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -O1" \
    -DTSC_FUZZ=ON \
    -DTSC_SANITIZE=ON

status=0
for harness in "$fuzz_dir"/fuzz_*.c; do
    name=$(basename "$harness" .c)
    if [ -n "$only" ]; then
        case " $only " in *" $name "*) ;; *) continue ;; esac
    fi
    cmake --build "$build_dir" --target "$name" -j"${JOBS:-2}"

    work="$build_dir/fuzz-work/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    seeds="$fuzz_dir/corpus_${name#fuzz_}"
    [ -d "$seeds" ] || seeds="$fuzz_dir/corpus"
    cp "$seeds"/* "$work/corpus/"

    set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/"
    [ -f "$fuzz_dir/$name.dict" ] && set -- "$@" -dict="$fuzz_dir/$name.dict"

    echo "== $name: ${seconds}s from $(ls "$work/corpus" | wc -l) seeds in $seeds"
    if ! "$build_dir/tests/fuzz/$name" "$@" "$work/corpus" 2> "$work/log.txt"; then
        echo "== $name FAILED; log: $work/log.txt; reproducers:" >&2
        ls "$work" | grep -E '^(crash|leak|timeout|oom)-' >&2 || true
        tail -n 40 "$work/log.txt" >&2
        status=1
    else
        grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$work/log.txt" || true
    fi
done
exit $status
