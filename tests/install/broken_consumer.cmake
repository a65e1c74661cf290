# examples/cmake-consumer-broken: its model has a shape error, so configuring
# succeeds but the build must fail, and its output must carry tsc's
# diagnostic in the form file:line:col: error: … [CODE].
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(source "${WORK_DIR}/broken-src")
set(build "${WORK_DIR}/broken-build")
# The broken example shares main.c with cmake-consumer (../cmake-consumer).
copy_example(cmake-consumer-broken "${source}")
copy_example(cmake-consumer "${WORK_DIR}/cmake-consumer")
file(REMOVE_RECURSE "${build}")

consumer_configure_args(args)
run(configure "${CMAKE_COMMAND}" -S "${source}" -B "${build}" ${args})
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message(STATUS "build output:\n${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the build of a model with a shape error succeeded")
endif()
set(diagnostic "${source}/tiny_mlp.tdl:9:21: error: 'logits' is f32[B,4], but its declared type says 3 for dimension 1 [E0206]")
string(FIND "${out}" "${diagnostic}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the failed build does not show tsc's diagnostic '${diagnostic}'")
endif()
if(EXISTS "${build}/app")
  message(FATAL_ERROR "an app was linked although its model has errors")
endif()
