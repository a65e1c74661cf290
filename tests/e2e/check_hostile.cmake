# Generates C from a model file whose names are hostile to C (see
# hostile/hostile_names.tdl) and compiles every generated source with the
# strict flags as C11 and as C++17, then all headers in one translation unit.
# Usage: cmake -DTSC=… -DMODEL=… -DWORK_DIR=… -DCC=… [-DCXX=…] -DRUNTIME_INCLUDE=… -P check_hostile.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(COMMAND "${TSC}" -o "${WORK_DIR}" "${MODEL}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tsc failed (${rc}): ${err}")
endif()

file(GLOB sources "${WORK_DIR}/*.c")
file(GLOB headers "${WORK_DIR}/*.h")
list(LENGTH sources count)
if(count LESS 5)
  message(FATAL_ERROR "expected a source per model, found: ${sources}")
endif()

set(all "${WORK_DIR}/all_headers.c")
set(text "")
foreach(header ${headers})
  get_filename_component(name "${header}" NAME)
  string(APPEND text "#include \"${name}\"\n")
endforeach()
string(APPEND text "int all_headers_compile(void);\nint all_headers_compile(void) { return 0; }\n")
file(WRITE "${all}" "${text}")

set(flags -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror -I "${WORK_DIR}" -I "${RUNTIME_INCLUDE}")
foreach(source ${sources} ${all})
  execute_process(COMMAND "${CC}" -std=c11 ${flags} -c "${source}" -o "${source}.o"
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "C11 compile of ${source} failed:\n${err}")
  endif()
  if(CXX)
    execute_process(COMMAND "${CXX}" -std=c++17 -x c++ -Wall -Wextra -Werror -I "${WORK_DIR}" -I "${RUNTIME_INCLUDE}"
                            -c "${source}" -o "${source}.cpp.o"
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "C++17 compile of ${source} failed:\n${err}")
    endif()
  endif()
endforeach()

# Nothing the layer names smuggled in became code.
foreach(source ${sources})
  file(READ "${source}" code)
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" code "${code}")
  string(REGEX REPLACE "\"([^\"\\\\]|\\\\.)*\"" "\"\"" code "${code}")
  if(code MATCHES "(^|[^A-Za-z0-9_])abort *\\(")
    message(FATAL_ERROR "${source}: 'abort' outside comments and strings")
  endif()
endforeach()
message(STATUS "hostile names: ${count} models compile as C11 and C++17")
