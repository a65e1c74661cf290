#!/usr/bin/env bash
# LeNet-5 and fashion_cnn as firmware: inference builds with trained weights
# compiled in (tsc --weights, from the x86 reference's training), the
# portable runtime and infer.c, compiled for a Cortex-M4F at -Os and linked
# into a bare-metal image with newlib-nano, static arenas and no heap. Prints
# what arm-none-eabi-size reports and the runtime's own share of it, and
# fails if the runtime's code exceeds 32 KiB or LeNet-5's arena 32 KiB.
#   bare_metal.sh TSC SOURCE_DIR WORK_DIR SOURCES_FILE X86_INFER_PRINT
. "$(dirname "$0")/common.sh"
need arm-none-eabi-gcc gcc-arm-none-eabi
need arm-none-eabi-size binutils-arm-none-eabi
nano_specs=$(arm-none-eabi-gcc -print-file-name=nano.specs)
[ -f "$nano_specs" ] || skip "newlib-nano is not installed (Debian package libnewlib-arm-none-eabi)"

RUNTIME_TEXT_BUDGET=32768
LENET5_ARENA_BUDGET=32768
cpu=(-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard)
cflags=(-std=c11 -Os -ffunction-sections -fdata-sections -Wall -Wextra -Wpedantic -Werror
        -I"$source_dir/runtime/include" -I"$source_dir/runtime/src")

x86_reference
defines=$(generate_models weights)
arenas=$(host_arena_defines weights "$defines")
gen=$work/gen-weights
mkdir -p "$work/runtime"
rm -f "$work/runtime"/*.o "$work/libtdlrt.a"
# The runtime as its own archive, so that the map file can tell its share.
for src in $runtime_sources; do
  obj="$work/runtime/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
  arm-none-eabi-gcc "${cpu[@]}" "${cflags[@]}" -c "$src" -o "$obj"
done
arm-none-eabi-ar rcs "$work/libtdlrt.a" "$work"/runtime/*.o

# shellcheck disable=SC2046,SC2086
arm-none-eabi-gcc "${cpu[@]}" "${cflags[@]}" -I"$gen" -I"$here" $defines $arenas \
  "$gen/lenet5.c" "$gen/fashion_cnn.c" "$here/infer.c" "$here/infer_bare_metal.c" \
  --specs=nano.specs --specs=nosys.specs -Wl,--gc-sections -Wl,-Map="$work/image.map" \
  "$work/libtdlrt.a" -lm -o "$work/image.elf"

echo "arm-none-eabi-size (Cortex-M4F, -Os, newlib-nano, inference builds with compiled-in weights):"
arm-none-eabi-size -A "$work/image.elf" | grep -E '^(section|\.text|\.rodata|\.data|\.bss|Total)'
arm-none-eabi-size "$work/image.elf"

# The input sections the linker kept from libtdlrt.a, summed by kind: the
# part of the map after "Linker script and memory map" (before it come the
# discarded ones). A map line names the section (on a line of its own when
# the name is long), then its address, size and archive member.
awk -v out="$work/runtime_text" '
  function hex(s,    i, n) {
    n = 0; s = tolower(substr(s, 3))
    for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return n
  }
  /^Linker script and memory map/ { kept = 1; next }
  !kept { next }
  /^ \.[a-zA-Z_.]/ && NF == 1 { section = $1; next }
  /^ \.[a-zA-Z_.]/ && NF >= 4 { section = $1; size = $3; member = $4 }
  /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / && NF == 3 && section != "" { size = $2; member = $3 }
  member != "" {
    if (member ~ /libtdlrt\.a\(/) {
      kind = section ~ /^\.text/ ? "text" : section ~ /^\.rodata/ ? "rodata" : section ~ /^\.data/ ? "data" : section ~ /^\.bss/ ? "bss" : "other"
      bytes[kind] += hex(size)
    }
    section = ""; member = ""
  }
  END {
    printf "runtime (libtdlrt, portable) kept in the image: .text %d  .rodata %d  .data %d  .bss %d bytes\n", bytes["text"], bytes["rodata"], bytes["data"], bytes["bss"]
    print bytes["text"] + 0 > out
  }' "$work/image.map"
"$work/host-weights" --arena-sizes | awk '{ printf "arena at batch 1 (in .bss): %s %d bytes\n", $1, $2 }'
arm-none-eabi-gcc "${cpu[@]}" "${cflags[@]}" -I"$gen" -c "$gen/lenet5.c" -o "$work/lenet5.o"
arm-none-eabi-gcc "${cpu[@]}" "${cflags[@]}" -I"$gen" -c "$gen/fashion_cnn.c" -o "$work/fashion_cnn.o"
echo "generated code with its weights (arm-none-eabi-size of the object files):"
arm-none-eabi-size "$work/lenet5.o" "$work/fashion_cnn.o"

runtime_text=$(cat "$work/runtime_text")
if [ "$runtime_text" -gt "$RUNTIME_TEXT_BUDGET" ]; then
  echo "the runtime's code is $runtime_text bytes, over the budget of $RUNTIME_TEXT_BUDGET"
  exit 1
fi
lenet5_arena=$("$work/host-weights" --arena-sizes | awk '$1 == "lenet5" { print $2 }')
if [ "$lenet5_arena" -gt "$LENET5_ARENA_BUDGET" ]; then
  echo "LeNet-5's arena at batch 1 is $lenet5_arena bytes, over the budget of $LENET5_ARENA_BUDGET"
  exit 1
fi
