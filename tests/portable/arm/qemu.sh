#!/usr/bin/env bash
# The portable runtime and the generated LeNet-5 and fashion_cnn, built for
# ARMv7-A hard-float with NEON and run under qemu-arm: their probabilities
# on the fixed Fashion-MNIST batch equal the x86 build's within 1e-5.
#   qemu.sh TSC SOURCE_DIR WORK_DIR SOURCES_FILE X86_INFER_PRINT X86_PORTABLE_INFER_PRINT
# (the x86 reference on the optimised runtime, and the same program on the
# portable runtime, which gives the arena sizes)
. "$(dirname "$0")/common.sh"
x86=$5
x86_portable=$6
need arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
need qemu-arm qemu-user
[ -d /usr/arm-linux-gnueabihf/lib ] || skip "/usr/arm-linux-gnueabihf has no ARM C library (Debian package libc6-armhf-cross)"

generate_models
mkdir -p "$work"
# shellcheck disable=SC2046,SC2086
arm-linux-gnueabihf-gcc -std=c11 -O2 -march=armv7-a -mfpu=neon -mfloat-abi=hard \
  -Wall -Wextra -Wpedantic -Werror \
  -I"$source_dir/runtime/include" -I"$source_dir/runtime/src" -I"$work/gen" -I"$here" \
  $(arena_defines "$x86_portable") $weights_define \
  $runtime_sources "$work/gen/lenet5.c" "$work/gen/fashion_cnn.c" "$here/infer.c" "$here/infer_print.c" \
  -lm -o "$work/infer_armv7"

"$x86" > "$work/x86.txt"
qemu-arm -L /usr/arm-linux-gnueabihf "$work/infer_armv7" > "$work/armv7.txt"

# Same lines in the same order; every probability within 1e-5.
awk -v expected=160 '
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
    printf "%d probabilities compared (ARMv7 under qemu against x86), largest difference %.3g\n", n, worst
    if (n != expected || bad > 0) exit 1
  }' "$work/x86.txt" "$work/armv7.txt"
