# Helpers shared by the install tests (each one a `cmake -P` script).

# run(<name> <command…>): runs a command and stops the test with its output
# when it fails; the output is left in the variable `<name>_output`.
function(run name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "${name} failed (${rc}): ${command}\n${out}")
  endif()
  set(${name}_output "${out}" PARENT_SCOPE)
endfunction()

# The arguments that make a consumer project build like this one: the same
# generator, make program and C compiler, and only the freshly installed tsc.
function(consumer_configure_args out_var)
  set(args -G "${GENERATOR}" "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_PREFIX_PATH=${PREFIX}"
           -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  if(MAKE_PROGRAM)
    list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  set(${out_var} "${args}" PARENT_SCOPE)
endfunction()

# copy_example(<name> <dest>): a fresh copy of examples/<name> in dest, so a
# test can touch its files without touching the source tree.
function(copy_example name dest)
  file(REMOVE_RECURSE "${dest}")
  file(COPY "${SOURCE_DIR}/examples/${name}/" DESTINATION "${dest}")
endfunction()
