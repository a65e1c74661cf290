#!/usr/bin/env bash
# The portable runtime and tsc's C for LeNet-5 and fashion_cnn, built for
# ARMv7-A hard-float with NEON and run under qemu-arm, twice:
#   1. the models as written: NAME_init(42) and three epochs of batch-1 train
#      steps on the fixed Fashion-MNIST batch on the device, then inference;
#   2. inference builds with the x86 reference's trained weights compiled in
#      (tsc --weights), as firmware runs them.
# Both give the x86 build's probabilities (optimised runtime) within 1e-5.
#   qemu.sh TSC SOURCE_DIR WORK_DIR SOURCES_FILE X86_INFER_PRINT
. "$(dirname "$0")/common.sh"
need arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
need qemu-arm qemu-user
[ -f /usr/arm-linux-gnueabihf/include/stdio.h ] ||
  skip "/usr/arm-linux-gnueabihf has no ARM C library headers (Debian package libc6-dev-armhf-cross)"

x86_reference
for mode in training weights; do
  defines=$(generate_models $mode)
  defines="$defines $(host_arena_defines $mode "$defines")"
  gen=$work/gen-$mode
  # shellcheck disable=SC2086
  arm-linux-gnueabihf-gcc -std=c11 -O2 -march=armv7-a -mfpu=neon -mfloat-abi=hard \
    -Wall -Wextra -Wpedantic -Werror \
    -I"$source_dir/runtime/include" -I"$source_dir/runtime/src" -I"$gen" -I"$here" $defines \
    $runtime_sources "$gen/lenet5.c" "$gen/fashion_cnn.c" "$here/infer.c" "$here/infer_print.c" \
    -lm -o "$work/infer-armv7-$mode"
  qemu-arm -L /usr/arm-linux-gnueabihf "$work/infer-armv7-$mode" > "$work/armv7-$mode.txt"
  compare_probs "$work/x86.txt" "$work/armv7-$mode.txt" "ARMv7 under qemu, $mode"
done
