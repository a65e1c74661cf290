# Installs the build into a staging prefix, moves it elsewhere (an installed
# tree must not depend on where it was installed), and checks that every file
# of the contract is there and that no CMake or pkg-config file names the
# staging, source or build directory.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(stage "${WORK_DIR}/stage")
file(REMOVE_RECURSE "${stage}" "${PREFIX}")
run(install "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${stage}")
file(RENAME "${stage}" "${PREFIX}")

set(expected
  bin/tsc
  include/tdl/runtime.h
  ${LIBDIR}/libtdlrt.a
  ${LIBDIR}/libtdlrt.so
  ${LIBDIR}/libtdlrt.so.${SOVERSION}
  ${LIBDIR}/pkgconfig/tdlrt.pc
  ${LIBDIR}/cmake/tsc/tsc-config.cmake
  ${LIBDIR}/cmake/tsc/tsc-config-version.cmake
  ${LIBDIR}/cmake/tsc/tsc-targets.cmake
  ${LIBDIR}/cmake/tsc/TscAddModel.cmake
  ${MANDIR}/man1/tsc.1)
foreach(file IN LISTS expected)
  if(NOT EXISTS "${PREFIX}/${file}")
    message(FATAL_ERROR "not installed: ${file}")
  endif()
endforeach()

run(version "${PREFIX}/bin/tsc" --version)
if(NOT version_output MATCHES "^tsc ${VERSION}")
  message(FATAL_ERROR "installed tsc --version says '${version_output}', expected 'tsc ${VERSION}'")
endif()

file(GLOB_RECURSE text_files "${PREFIX}/${LIBDIR}/cmake/*" "${PREFIX}/${LIBDIR}/pkgconfig/*")
foreach(file IN LISTS text_files)
  file(READ "${file}" content)
  foreach(dir IN ITEMS "${stage}" "${SOURCE_DIR}" "${BUILD_DIR}")
    string(FIND "${content}" "${dir}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${file} names the directory ${dir}: the installed tree is not relocatable")
    endif()
  endforeach()
endforeach()
message(STATUS "installed into ${PREFIX}: ${expected}")
