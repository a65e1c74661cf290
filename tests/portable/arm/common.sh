# Shared by the ARM tests (sourced): the arguments every one of them takes,
# tsc's output for the two models, and skipping when a tool is missing.
#   $1 tsc   $2 source dir   $3 work dir   $4 file listing the portable runtime's sources
set -euo pipefail
tsc=$1
source_dir=$2
work=$3
runtime_sources=$(cat "$4")
here=$source_dir/tests/portable/arm

# Options for tsc. Once `tsc --inference` is on main, this line is the one to
# change (TSC_ARM_OPTIONS="--inference"); with `--weights FILE` the weights
# are compiled in and infer.c is built with -DINFER_WEIGHTS_COMPILED_IN
# instead of starting from NAME_init(42) (see weights_define below).
TSC_ARM_OPTIONS=""
weights_define=""

# ctest reports exit code 77 as skipped (SKIP_RETURN_CODE).
skip() {
  echo "SKIPPED: $*; scripts/install-deps.sh installs it"
  exit 77
}
need() {
  command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (Debian package $2)"
}

# The generated C of LeNet-5 and fashion_cnn in $work/gen.
generate_models() {
  rm -rf "$work/gen"
  mkdir -p "$work/gen"
  "$tsc" $TSC_ARM_OPTIONS -o "$work/gen" "$source_dir/examples/models/lenet5.tdl"
  "$tsc" $TSC_ARM_OPTIONS -o "$work/gen" "$source_dir/examples/fashion_mnist/fashion_cnn.tdl"
}

# -D flags giving infer.c each model's exact arena size, from the host build.
arena_defines() {
  "$1" --arena-sizes | awk '{ printf "-D%s_ARENA_BYTES=%su ", toupper($1), $2 }'
}
