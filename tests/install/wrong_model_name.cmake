# tsc_add_model with MODELS naming a model the file does not have: the build
# fails with a message that names the models the file does contain.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(source "${WORK_DIR}/wrong-name-src")
set(build "${WORK_DIR}/wrong-name-build")
copy_example(cmake-consumer "${source}")
file(WRITE "${source}/CMakeLists.txt" [=[
cmake_minimum_required(VERSION 3.20)
project(tsc_wrong_name LANGUAGES C)
find_package(tsc 0.1 REQUIRED)
tsc_add_model(tiny_model tiny_mlp.tdl MODELS tiny)
]=])
file(REMOVE_RECURSE "${build}")

consumer_configure_args(args)
run(configure "${CMAKE_COMMAND}" -S "${source}" -B "${build}" ${args})
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message(STATUS "build output:\n${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the build succeeded although tiny_mlp.tdl has no model 'tiny'")
endif()
string(REPLACE "\n" " " flat "${out}")
string(REGEX REPLACE "[ \t]+" " " flat "${flat}")
set(expected "has no model named 'tiny' (tsc names the files after the model blocks, not after the file); the file's models are: tiny_mlp.")
string(FIND "${flat}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the failed build does not say '${expected}'")
endif()
