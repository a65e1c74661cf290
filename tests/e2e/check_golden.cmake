# cmake -DTSC=<tsc> -DGOLDEN_DIR=<dir> -DNAME=<model> -DWORK_DIR=<dir> -P check_golden.cmake
# Generates <GOLDEN_DIR>/<NAME>.tdl afresh and compares the output with the
# committed <NAME>.h and <NAME>.c. After an intended change of the generator,
# run tests/e2e/golden/update.sh and review the diff.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${TSC} -o ${WORK_DIR} ${GOLDEN_DIR}/${NAME}.tdl RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tsc failed (${rc}) on ${GOLDEN_DIR}/${NAME}.tdl")
endif()
set(failed "")
foreach(suffix .h .c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${GOLDEN_DIR}/${NAME}${suffix} ${WORK_DIR}/${NAME}${suffix}
                  RESULT_VARIABLE differ)
  if(differ)
    find_program(DIFF diff)
    if(DIFF)
      execute_process(COMMAND ${DIFF} -u ${GOLDEN_DIR}/${NAME}${suffix} ${WORK_DIR}/${NAME}${suffix})
    endif()
    list(APPEND failed ${NAME}${suffix})
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "the generated ${failed} differ from tests/e2e/golden/ "
                      "(if the change is intended: tests/e2e/golden/update.sh <path to tsc>)")
endif()
