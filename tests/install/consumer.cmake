# examples/cmake-consumer against the installed tree: find_package(tsc) and
# tsc_add_model must give a project that builds, and an app that trains (it
# exits non-zero unless the loss went down). Then the dependency tracking: a
# second build runs nothing, and touching the model or tsc runs tsc again.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(source "${WORK_DIR}/consumer-src")
set(build "${WORK_DIR}/consumer-build")
copy_example(cmake-consumer "${source}")
file(REMOVE_RECURSE "${build}")

consumer_configure_args(args)
run(configure "${CMAKE_COMMAND}" -S "${source}" -B "${build}" ${args})
run(build "${CMAKE_COMMAND}" --build "${build}")
if(NOT build_output MATCHES "Generating C from tiny_mlp.tdl with tsc")
  message(FATAL_ERROR "the first build did not run tsc:\n${build_output}")
endif()

# The package that was found is the one just installed.
file(STRINGS "${build}/CMakeCache.txt" tsc_dir REGEX "^tsc_DIR:")
if(NOT tsc_dir STREQUAL "tsc_DIR:PATH=${PREFIX}/${LIBDIR}/cmake/tsc")
  message(FATAL_ERROR "found another tsc package: ${tsc_dir}")
endif()

run(app "${build}/app")
message(STATUS "app:\n${app_output}")
if(NOT app_output MATCHES "epoch 10  loss")
  message(FATAL_ERROR "the app did not train for 10 epochs:\n${app_output}")
endif()

run(rebuild "${CMAKE_COMMAND}" --build "${build}")
if(rebuild_output MATCHES "Generating C")
  message(FATAL_ERROR "a build with nothing changed ran tsc again:\n${rebuild_output}")
endif()

# Make and ninja compare modification times; a second's step is safe everywhere.
execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1)
file(TOUCH "${source}/tiny_mlp.tdl")
run(after_touch "${CMAKE_COMMAND}" --build "${build}")
if(NOT after_touch_output MATCHES "Generating C from tiny_mlp.tdl with tsc")
  message(FATAL_ERROR "changing the model did not run tsc again:\n${after_touch_output}")
endif()

# A new tsc may generate other code: the command depends on tsc::tsc too.
execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1)
file(TOUCH "${PREFIX}/bin/tsc")
run(after_new_tsc "${CMAKE_COMMAND}" --build "${build}")
if(NOT after_new_tsc_output MATCHES "Generating C from tiny_mlp.tdl with tsc")
  message(FATAL_ERROR "a newer tsc did not run again:\n${after_new_tsc_output}")
endif()
