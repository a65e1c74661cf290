# cmake -DCOMMAND="prog;arg;…" -DSTATUS=N -DEXPECT=regex [-DREJECT=regex] [-DWORKDIR=dir] -P run_expect.cmake
#
# Runs COMMAND and checks that it exits with STATUS and that its stdout and
# stderr together match EXPECT and, when given, do not match REJECT. (ctest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status.)
foreach(var COMMAND STATUS EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_expect.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED WORKDIR)
  set(WORKDIR ".")
endif()

execute_process(COMMAND ${COMMAND}
  WORKING_DIRECTORY "${WORKDIR}"
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
set(output "${out}${err}")

set(failed FALSE)
if(NOT status STREQUAL STATUS)
  message("exit status ${status}, expected ${STATUS}")
  set(failed TRUE)
endif()
if(NOT output MATCHES "${EXPECT}")
  message("the output does not match: ${EXPECT}")
  set(failed TRUE)
endif()
if(DEFINED REJECT AND output MATCHES "${REJECT}")
  message("the output matches what it must not: ${REJECT}")
  set(failed TRUE)
endif()
if(failed)
  message(FATAL_ERROR "command: ${COMMAND}\n--- output ---\n${output}")
endif()
