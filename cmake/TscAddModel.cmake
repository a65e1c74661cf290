# tsc_add_model(<target> <model.tdl> [MODELS name…] [OUT_DIR dir] [OPTIONS tsc-option…])
#
# Generates C from a TDL file with tsc and builds it into a static library
# <target> that links the runtime and exposes the generated header(s).
# MODELS names the `model` blocks of the file (default: the file's stem);
# each one becomes <name>.c and <name>.h in OUT_DIR (default:
# <current binary dir>/tsc/<target>). The command re-runs when the model or
# tsc changes; a model with errors fails the build with tsc's diagnostics.
function(tsc_add_model target model)
  cmake_parse_arguments(ARG "" "OUT_DIR" "MODELS;OPTIONS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tsc_add_model: unexpected arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(model_path "${model}" ABSOLUTE)
  if(NOT ARG_MODELS)
    get_filename_component(ARG_MODELS "${model}" NAME_WE)
  endif()
  if(NOT ARG_OUT_DIR)
    set(ARG_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/tsc/${target}")
  endif()

  set(outputs "")
  foreach(name IN LISTS ARG_MODELS)
    list(APPEND outputs "${ARG_OUT_DIR}/${name}.c" "${ARG_OUT_DIR}/${name}.h")
  endforeach()

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${ARG_OUT_DIR}"
    COMMAND tsc::tsc -o "${ARG_OUT_DIR}" ${ARG_OPTIONS} "${model_path}"
    DEPENDS "${model_path}" tsc::tsc
    COMMENT "tsc ${model}"
    VERBATIM)

  add_library(${target} STATIC ${outputs})
  target_include_directories(${target} PUBLIC "${ARG_OUT_DIR}")
  target_link_libraries(${target} PUBLIC tsc::runtime)
endfunction()
