# The plain-make path of docs/build-integration.md: examples/cmake-consumer's
# Makefile generates C with tsc -MD -MF, links libtdlrt.a through
# `pkg-config --static --libs tdlrt`, and the app trains. A second make does
# nothing; touching the model runs tsc again (the dependency file at work).
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(dir "${WORK_DIR}/makefile-consumer")
copy_example(cmake-consumer "${dir}")
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
set(make_args -C "${dir}" "TSC=${PREFIX}/bin/tsc" "CC=${C_COMPILER}" "PKG_CONFIG=${PKG_CONFIG}" LINK=static)

run(make "${MAKE}" ${make_args})
if(NOT EXISTS "${dir}/generated/tiny_mlp.d")
  message(FATAL_ERROR "tsc -MD -MF wrote no generated/tiny_mlp.d:\n${make_output}")
endif()
run(app "${dir}/app")
if(NOT app_output MATCHES "epoch 10  loss")
  message(FATAL_ERROR "the app did not train for 10 epochs:\n${app_output}")
endif()

run(remake "${MAKE}" ${make_args})
if(remake_output MATCHES "tsc -MD")
  message(FATAL_ERROR "make ran tsc again with nothing changed:\n${remake_output}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1)
file(TOUCH "${dir}/tiny_mlp.tdl")
run(after_touch "${MAKE}" ${make_args})
if(NOT after_touch_output MATCHES "tsc -MD")
  message(FATAL_ERROR "changing the model did not run tsc again:\n${after_touch_output}")
endif()
