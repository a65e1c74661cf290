# pkg-config against the installed tree: `pkg-config --cflags --libs tdlrt`
# compiles and links a C program against the shared libtdlrt, which then runs
# (the program checks a matrix product computed by the library).
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
run(modversion "${PKG_CONFIG}" --modversion tdlrt)
string(STRIP "${modversion_output}" modversion)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config says tdlrt ${modversion}, expected ${VERSION}")
endif()

# pkg-config prints the flags on stdout; keep stderr apart.
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs tdlrt
  RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs tdlrt failed:\n${err}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")

set(program "${WORK_DIR}/tdlrt_smoke")
file(REMOVE "${program}")
run(compile "${C_COMPILER}" -std=c11 "${CMAKE_CURRENT_LIST_DIR}/tdlrt_smoke.c" -o "${program}" ${flags})

# The shared library is the one linked: the program needs it at run time.
if(READELF)
  run(readelf "${READELF}" -d "${program}")
  if(NOT readelf_output MATCHES "libtdlrt\\.so\\.${SOVERSION}")
    message(FATAL_ERROR "the program does not load libtdlrt.so.${SOVERSION}:\n${readelf_output}")
  endif()
endif()
run(smoke "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${PREFIX}/${LIBDIR}" "${program}")
if(NOT smoke_output MATCHES "sgemm ok")
  message(FATAL_ERROR "unexpected output: ${smoke_output}")
endif()
