# cmake -DINPUT=file -DOUTPUT=file.c -P EmbedText.cmake
# Writes file.c defining `const char tsc_catalogue_text[]`, the bytes of INPUT.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# Bytes of 0x80 and above (UTF-8) do not fit a signed char: say so with a cast.
string(REGEX REPLACE "0x([89a-f][0-9a-f])" "(char)0x\\1" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from docs/diagnostics.md. Do not edit. */\n"
  "const char tsc_catalogue_text[] = {${bytes}0x00};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
