# cmake -DTSC=path/to/tsc -DNAME=name -DSOURCE_DIR=dir -DOUTPUT_DIR=dir -P golden.cmake
#
# Runs `tsc --check [NAME.args] NAME.tdl` in SOURCE_DIR with NO_COLOR=1, compares its
# stderr byte for byte with NAME.stderr, and checks the exit status: 1 when the
# expected text holds an error, else 0.
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

# NAME.args, when present, holds more arguments for tsc, one per line
# (--weights FILE for the E05xx goldens).
set(extra_args "")
if(EXISTS "${SOURCE_DIR}/${NAME}.args")
  file(STRINGS "${SOURCE_DIR}/${NAME}.args" extra_args)
endif()

set(ENV{NO_COLOR} 1)
execute_process(
  COMMAND "${TSC}" --check ${extra_args} "${NAME}.tdl"
  WORKING_DIRECTORY "${SOURCE_DIR}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE stdout
  ERROR_VARIABLE actual)
file(READ "${expected_file}" expected)

# An error with a location reads "file:line:col: error: ", one without
# (a corrupt weights file) starts its line with "error: ".
string(REGEX MATCH "(^|\n|: )error: " error_at "${expected}")
if(error_at STREQUAL "")
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
