# The portable runtime's package (-DTDLRT_PORTABLE=ON): a build tree of the
# project configured with it is built and installed under WORK_DIR; its
# libtdlrt needs libm alone (pkg-config, the shared library's NEEDED
# entries), and a consumer project (portable_consumer/) builds against it
# with find_package(tsc) and tsc_add_model and trains a model in an arena.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(build "${WORK_DIR}/portable-build")
set(prefix "${WORK_DIR}/portable-prefix")
set(consumer "${WORK_DIR}/portable-consumer")
file(REMOVE_RECURSE "${build}" "${prefix}" "${consumer}")

set(PREFIX "${prefix}")
consumer_configure_args(args)
run(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" ${args} -DTDLRT_PORTABLE=ON
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${prefix}")
if(NOT configure_output MATCHES "Portable runtime")
  message(FATAL_ERROR "the build did not take the portable runtime:\n${configure_output}")
endif()
# What the package installs; the examples and benchmarks are not in it.
run(build "${CMAKE_COMMAND}" --build "${build}" --parallel 2 --target tsc tdlrt tdlrt_shared)
run(install "${CMAKE_COMMAND}" --install "${build}")

# pkg-config: libm, and no BLAS or cJSON behind it.
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
run(pkgconfig "${PKG_CONFIG}" --static --libs tdlrt)
if(NOT pkgconfig_output MATCHES "-ltdlrt" OR NOT pkgconfig_output MATCHES "-lm"
   OR pkgconfig_output MATCHES "openblas|cjson|xsmm|pthread")
  message(FATAL_ERROR "pkg-config --static --libs tdlrt of the portable package: ${pkgconfig_output}")
endif()
if(READELF)
  run(needed "${READELF}" -d "${prefix}/${LIBDIR}/libtdlrt.so")
  if(needed_output MATCHES "openblas|cjson|xsmm|pthread")
    message(FATAL_ERROR "the portable libtdlrt.so needs more than libm and libc:\n${needed_output}")
  endif()
endif()

run(consumer_configure "${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/portable_consumer" -B "${consumer}"
    ${args} "-DTINY_MLP_TDL=${SOURCE_DIR}/examples/cmake-consumer/tiny_mlp.tdl")
run(consumer_build "${CMAKE_COMMAND}" --build "${consumer}")
run(app "${consumer}/app")
message(STATUS "app:\n${app_output}")
if(NOT app_output MATCHES "TDL_STATUS|portable runtime does not allocate" OR NOT app_output MATCHES "portable consumer: loss")
  message(FATAL_ERROR "the portable consumer did not run as expected:\n${app_output}")
endif()
