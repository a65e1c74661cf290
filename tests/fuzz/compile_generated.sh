#!/bin/sh
# Compiles and runs the C that tsc generates for models fuzz_structured saved.
#
#   tests/fuzz/compile_generated.sh BUILD_DIR MODEL_DIR [MAX]
#
# BUILD_DIR is a build with TSC_SANITIZE=ON (tests/fuzz/run.sh makes one):
# its tsc generates the C and its libtdlrt.a, built with ASan and UBSan, is
# linked in. MODEL_DIR holds .tdl files written by
# `TSC_FUZZ_SAVE_DIR=MODEL_DIR fuzz_structured …`; the first MAX (default 50)
# in name order are taken, and their names are hashes, so that is a fair
# sample. For each: tsc writes fz.h and fz.c; fz.c is compiled with the
# warnings docs/generated-c.md promises (-Wall -Wextra -Wpedantic -Wshadow
# -Wconversion -Werror) and tests/fuzz/generated_main.c with the first
# three; the program then runs train_step, evaluate, forward, save and load
# under the sanitizers. Work files go to BUILD_DIR/compile-work/. Exits
# non-zero when any model fails, after listing the failures.
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 BUILD_DIR MODEL_DIR [MAX]" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
model_dir=$(cd "$2" && pwd)
max=${3:-50}
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$fuzz_dir/../.." && pwd)

tsc="$build_dir/compiler/tsc"
runtime="$build_dir/runtime/libtdlrt.a"
# The build's own compiler: the sanitizer runtimes of the library and the program must match.
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
for f in "$tsc" "$runtime"; do
    [ -f "$f" ] || { echo "$0: $f is missing; build tsc and tdlrt in $build_dir first" >&2; exit 2; }
done
# What the build's static libtdlrt needs at link time, as the build's own
# tdlrt.pc lists it: libxsmm is there only when the build found it.
pc="$build_dir/tdlrt.pc"
[ -f "$pc" ] || { echo "$0: $pc is missing; configure $build_dir with CMake first" >&2; exit 2; }
requires=$(sed -n 's/^Requires.private: *//p' "$pc")
private=$(sed -n 's/^Libs.private: *//p' "$pc")
# shellcheck disable=SC2086 # one word per package
libs="$(pkg-config --libs $requires) $private"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
warnings="-std=c11 -Wall -Wextra -Wpedantic -Werror"

work="$build_dir/compile-work"
rm -rf "$work"
mkdir -p "$work"

passed=0
failed=0
for model in $(ls "$model_dir" | grep '\.tdl$' | head -n "$max"); do
    dir="$work/${model%.tdl}"
    mkdir -p "$dir"
    log="$dir/log.txt"
    step=tsc
    if "$tsc" "$model_dir/$model" -o "$dir" > "$log" 2>&1 &&
        step=compile &&
        $cc $warnings -Wshadow -Wconversion $sanitize -I "$source_dir/runtime/include" \
            -c "$dir/fz.c" -o "$dir/fz.o" >> "$log" 2>&1 &&
        $cc $warnings $sanitize -I "$source_dir/runtime/include" -I "$dir" \
            -c "$fuzz_dir/generated_main.c" -o "$dir/main.o" >> "$log" 2>&1 &&
        $cc $sanitize "$dir/main.o" "$dir/fz.o" "$runtime" $libs -o "$dir/main" >> "$log" 2>&1 &&
        step=run &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
            "$dir/main" "$dir/weights.safetensors" >> "$log" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED ($step): $model_dir/$model; log: $log"
        tail -n 20 "$log" | sed 's/^/    /'
    fi
done
echo "compile_generated: $passed passed, $failed failed (of at most $max models from $model_dir)"
[ "$failed" -eq 0 ]
