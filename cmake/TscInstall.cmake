# What `cmake --install` puts under the prefix (see docs/build-integration.md):
#
#   bin/tsc
#   include/tdl/runtime.h, include/tdl/mpi.h (with MPI)
#   lib/libtdlrt.a, lib/libtdlrt.so.0.1.0 (+ .so.0, .so), lib/libtdlrt_mpi.a (with MPI)
#   lib/pkgconfig/tdlrt.pc
#   lib/cmake/tsc/    tsc-config.cmake, tsc-config-version.cmake,
#                     tsc-targets*.cmake (tsc::tsc, tsc::runtime,
#                     tsc::runtime_shared), tsc-mpi-targets*.cmake
#                     (tsc::runtime_mpi, with MPI), TscAddModel.cmake
#   share/man/man1/tsc.1
#
# Nothing installed names an absolute path: the CMake files find the prefix
# from their own location and tdlrt.pc from ${pcfiledir}, so the tree can be
# moved or packaged as it is.
include(CMakePackageConfigHelpers)

set(TSC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/tsc)

# A sanitizer build's runtime calls into the sanitizer runtime, so whoever
# links the installed library must link it too.
set(TSC_SANITIZE_LINK_FLAGS "")
if(TSC_SANITIZE)
  set(TSC_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)
  foreach(runtime IN ITEMS tdlrt tdlrt_shared)
    target_link_options(${runtime} INTERFACE $<INSTALL_INTERFACE:${TSC_SANITIZE_LINK_FLAGS}>)
  endforeach()
endif()

install(TARGETS tsc EXPORT tsc-targets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS tdlrt tdlrt_shared EXPORT tsc-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/runtime/include/tdl/runtime.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tdl)
# The man page's header carries the version of this build.
file(READ ${PROJECT_SOURCE_DIR}/docs/tsc.1 tsc_man_page)
string(REGEX REPLACE "\"tsc [0-9.]+\"" "\"tsc ${PROJECT_VERSION}\"" tsc_man_page "${tsc_man_page}")
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/tsc.1 CONTENT "${tsc_man_page}" @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/tsc.1)
install(FILES ${PROJECT_BINARY_DIR}/tsc.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# ---- CMake package --------------------------------------------------------
install(EXPORT tsc-targets
  NAMESPACE tsc::
  FILE tsc-targets.cmake
  DESTINATION ${TSC_INSTALL_CMAKEDIR})
# libtdlrt_mpi has its own export file: tsc-config.cmake includes it only
# where MPI is found, so that the package works without MPI too.
if(TARGET tdlrt_mpi)
  install(TARGETS tdlrt_mpi EXPORT tsc-mpi-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/runtime/mpi/include/tdl/mpi.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tdl)
  install(EXPORT tsc-mpi-targets
    NAMESPACE tsc::
    FILE tsc-mpi-targets.cmake
    DESTINATION ${TSC_INSTALL_CMAKEDIR})
endif()
# pkg-config modules whose imported targets libtdlrt's link interface names.
set(TSC_PKG_DEPENDENCIES "\"OPENBLAS;openblas\" \"CJSON;libcjson\"")
if(TDLRT_PORTABLE)
  set(TSC_PKG_DEPENDENCIES "")  # the portable runtime needs libm alone
endif()
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/tsc-config.cmake.in
  ${PROJECT_BINARY_DIR}/tsc-config.cmake
  INSTALL_DESTINATION ${TSC_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/tsc-config-version.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/tsc-config.cmake
  ${PROJECT_BINARY_DIR}/tsc-config-version.cmake
  ${PROJECT_SOURCE_DIR}/cmake/TscAddModel.cmake
  DESTINATION ${TSC_INSTALL_CMAKEDIR})

# ---- pkg-config -----------------------------------------------------------
# tdlrt.pc finds the prefix relative to itself: as many `..` as LIBDIR/pkgconfig
# has components (lib/pkgconfig, or lib/x86_64-linux-gnu/pkgconfig under /usr).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TSC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(TSC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH tsc_pc_up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" tsc_pc_up "${tsc_pc_up}")
  set(TSC_PC_PREFIX "\${pcfiledir}/${tsc_pc_up}")
  set(TSC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(TSC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(TSC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
string(REPLACE ";" " " TSC_PC_SANITIZE_LIBS "${TSC_SANITIZE_LINK_FLAGS}")
# The optional part a static libtdlrt needs at link time (the shared one has
# libxsmm inside).
set(TSC_PC_LIBXSMM "")
if(LIBXSMM_FOUND)
  set(TSC_PC_LIBXSMM " libxsmm")
endif()
# What a static libtdlrt needs besides libm: nothing for the portable one.
set(TSC_PC_REQUIRES_PRIVATE "openblas libcjson${TSC_PC_LIBXSMM}")
set(TSC_PC_LIBS_PRIVATE "-lm -lpthread")
if(TDLRT_PORTABLE)
  set(TSC_PC_REQUIRES_PRIVATE "")
  set(TSC_PC_LIBS_PRIVATE "-lm")
endif()

configure_file(${PROJECT_SOURCE_DIR}/cmake/tdlrt.pc.in ${PROJECT_BINARY_DIR}/tdlrt.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tdlrt.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
