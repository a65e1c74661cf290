# Shared by the ARM tests (sourced): their arguments, tsc's C for the two
# models, the x86 reference, and skipping when a tool is missing.
#   $1 tsc   $2 source dir   $3 work dir   $4 file listing the portable runtime's sources
#   $5 infer_print built for x86 on the optimised runtime (the reference)
set -euo pipefail
tsc=$1
source_dir=$2
work=$3
runtime_sources=$(cat "$4")
x86=$5
here=$source_dir/tests/portable/arm
mkdir -p "$work"

# ctest reports exit code 77 as skipped (SKIP_RETURN_CODE).
skip() {
  echo "SKIPPED: $*; scripts/install-deps.sh installs it"
  exit 77
}
need() {
  command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (Debian package $2)"
}

# The x86 reference: NAME_init(42), three epochs of batch-1 train steps on the
# fixed batch, then the probabilities ($work/x86.txt) and the weights
# ($work/weights/NAME.safetensors) that `tsc --weights` compiles in.
x86_reference() {
  mkdir -p "$work/weights"
  "$x86" --save-weights "$work/weights" > "$work/x86.txt"
}

# generate_models training|weights: tsc's C for LeNet-5 and fashion_cnn in
# $work/gen-MODE, as written (they train) or as inference builds with the
# reference's weights compiled in; prints the -D flags infer.c needs.
generate_models() {
  local mode=$1 gen=$work/gen-$1 name tdl
  rm -rf "$gen"
  mkdir -p "$gen"
  for tdl in "$source_dir/examples/models/lenet5.tdl" "$source_dir/examples/fashion_mnist/fashion_cnn.tdl"; do
    name=$(basename "$tdl" .tdl)
    if [ "$mode" = weights ]; then
      "$tsc" --weights "$work/weights/$name.safetensors" -o "$gen" "$tdl"
    else
      "$tsc" -o "$gen" "$tdl"
    fi
  done
  [ "$mode" = weights ] && echo "-DINFER_WEIGHTS_COMPILED_IN"
  return 0
}

# host_arena_defines MODE DEFINES: the same program built for this machine
# on the portable runtime tells each model's exact arena at batch 1, as -D
# flags for infer.c's static arenas.
host_arena_defines() {
  local gen=$work/gen-$1
  # shellcheck disable=SC2086
  cc -std=c11 -O1 -I"$source_dir/runtime/include" -I"$source_dir/runtime/src" -I"$gen" -I"$here" $2 \
    $runtime_sources "$gen/lenet5.c" "$gen/fashion_cnn.c" "$here/infer.c" "$here/infer_print.c" \
    -lm -o "$work/host-$1"
  "$work/host-$1" --arena-sizes | awk '{ printf "-D%s_ARENA_BYTES=%su ", toupper($1), $2 }'
}

# compare_probs REFERENCE RESULT WHAT: the same lines in the same order, every
# probability within 1e-5.
compare_probs() {
  awk -v expected=160 -v what="$3" '
    NR == FNR { want[FNR] = $0; next }
    {
      split(want[FNR], w, " ")
      if (w[1] != $1 || w[2] != $2 || w[3] != $3) { print "line " FNR ": x86 has " want[FNR] ", ARM " $0; bad++; next }
      d = $4 - w[4]; if (d < 0) d = -d
      if (d > worst) worst = d
      if (!(d <= 1e-5)) { print $1 " image " $2 " class " $3 ": ARM " $4 ", x86 " w[4]; bad++ }
      n++
    }
    END {
      printf "%s: %d probabilities compared with x86, largest difference %.3g\n", what, n, worst
      if (n != expected || bad > 0) exit 1
    }' "$1" "$2"
}
