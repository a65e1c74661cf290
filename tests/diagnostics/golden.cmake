# cmake -DTSC=path/to/tsc -DNAME=name -DSOURCE_DIR=dir -DOUTPUT_DIR=dir -P golden.cmake
#
# Runs `tsc --check NAME.tdl` in SOURCE_DIR with NO_COLOR=1, compares its
# stderr byte for byte with NAME.stderr, and checks the exit status: 1 when the
# expected text holds an error (": error: "), else 0.
foreach(var TSC NAME SOURCE_DIR OUTPUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "golden.cmake: -D${var}=... is required")
  endif()
endforeach()

set(expected_file "${SOURCE_DIR}/${NAME}.stderr")
if(NOT EXISTS "${expected_file}")
  message(FATAL_ERROR "missing ${NAME}.stderr beside ${NAME}.tdl: run scripts/update-golden.sh "
                      "and review the text it writes")
endif()

set(ENV{NO_COLOR} 1)
execute_process(
  COMMAND "${TSC}" --check "${NAME}.tdl"
  WORKING_DIRECTORY "${SOURCE_DIR}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE stdout
  ERROR_VARIABLE actual)
file(READ "${expected_file}" expected)

string(FIND "${expected}" ": error: " error_at)
if(error_at EQUAL -1)
  set(expected_status 0)
else()
  set(expected_status 1)
endif()

set(failed FALSE)
if(NOT actual STREQUAL expected)
  set(failed TRUE)
  set(actual_file "${OUTPUT_DIR}/${NAME}.actual.stderr")
  file(WRITE "${actual_file}" "${actual}")
  message("${NAME}: stderr differs from ${NAME}.stderr (- expected, + actual):")
  find_program(DIFF_PROGRAM diff)
  if(DIFF_PROGRAM)
    execute_process(COMMAND "${DIFF_PROGRAM}" -u --label "${NAME}.stderr" --label "actual"
                            "${expected_file}" "${actual_file}"
                    OUTPUT_VARIABLE difference)
    message("${difference}")
  else()
    message("--- expected\n${expected}--- actual\n${actual}---")
  endif()
  message("actual output kept in ${actual_file}")
endif()
if(NOT status STREQUAL expected_status)
  set(failed TRUE)
  message("${NAME}: exit status ${status}, expected ${expected_status}")
endif()
if(failed)
  message(FATAL_ERROR "${NAME}: golden test failed")
endif()
