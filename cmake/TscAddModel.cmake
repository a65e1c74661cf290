# tsc_add_model(<target> <model.tdl> [MODELS name…] [OUT_DIR dir] [OPTIONS tsc-option…])
#
# Generates C from a TDL file with tsc and builds it into a static library
# <target> that links the runtime (tsc::runtime) and exposes the generated
# header(s) as a PUBLIC include directory, so `target_link_libraries(app
# PRIVATE <target>)` is all an application needs.
#
#   MODELS   the `model` blocks of the file (default: the file's stem); each
#            one becomes <name>.c and <name>.h
#   OUT_DIR  where they are written (default: <current binary dir>/tsc/<target>;
#            a relative path is taken from the current binary dir)
#   OPTIONS  more tsc options, e.g. --diagnostics-format=json or --color=always
#
# The command re-runs when the model or tsc changes: through tsc's -MD/-MF
# dependency file where the generator reads one (Ninja, Makefiles), and through
# DEPENDS everywhere. A model with errors fails the build, and tsc's
# diagnostics (file:line:col: error: …) are the build's output.
#
# This file serves the source tree (via the aliases tsc::tsc and tsc::runtime)
# and the installed package (imported targets) alike.

# DEPFILE paths are taken as they are written (absolute here) on Ninja.
if(POLICY CMP0116)
  cmake_policy(SET CMP0116 NEW)
endif()

function(tsc_add_model target model)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "OUT_DIR" "MODELS;OPTIONS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tsc_add_model(${target}): unexpected arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(ARG_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "tsc_add_model(${target}): no value after ${ARG_KEYWORDS_MISSING_VALUES}")
  endif()
  if(TARGET ${target})
    message(FATAL_ERROR "tsc_add_model(${target}): a target named '${target}' already exists")
  endif()
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST languages)
    message(FATAL_ERROR "tsc_add_model(${target}): the generated code is C; enable it with project(... LANGUAGES C ...)")
  endif()
  foreach(required IN ITEMS tsc::tsc tsc::runtime)
    if(NOT TARGET ${required})
      message(FATAL_ERROR "tsc_add_model(${target}): no target ${required}; call find_package(tsc) first")
    endif()
  endforeach()

  get_filename_component(model_path "${model}" ABSOLUTE)
  if(NOT EXISTS "${model_path}")
    message(FATAL_ERROR "tsc_add_model(${target}): no model file '${model_path}'")
  endif()
  get_filename_component(model_name "${model}" NAME)
  if(NOT ARG_MODELS)
    get_filename_component(ARG_MODELS "${model}" NAME_WE)
  endif()
  if(NOT ARG_OUT_DIR)
    set(ARG_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/tsc/${target}")
  endif()
  get_filename_component(out_dir "${ARG_OUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")

  set(outputs "")
  foreach(name IN LISTS ARG_MODELS)
    list(APPEND outputs "${out_dir}/${name}.c" "${out_dir}/${name}.h")
  endforeach()

  # The depfile lists what tsc read, so that make and ninja know it themselves.
  set(depfile_args "")
  set(tsc_depfile_options "")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.20 AND CMAKE_GENERATOR MATCHES "Ninja|Makefiles")
    set(depfile "${out_dir}/${target}.d")
    set(depfile_args DEPFILE "${depfile}")
    set(tsc_depfile_options -MD -MF "${depfile}")
  endif()

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${out_dir}"
    COMMAND tsc::tsc ${tsc_depfile_options} -o "${out_dir}" ${ARG_OPTIONS} "${model_path}"
    # A model block named otherwise than MODELS says would leave the library
    # without its sources: say so instead of failing in the compiler.
    COMMAND "${CMAKE_COMMAND}" "-DTSC_ADD_MODEL_TARGET=${target}" "-DTSC_ADD_MODEL_FILE=${model_name}"
            "-DTSC_ADD_MODEL_PATH=${model_path}" "-DTSC_ADD_MODEL_OUTPUTS=${outputs}"
            -P "${CMAKE_CURRENT_FUNCTION_LIST_FILE}"
    DEPENDS "${model_path}" tsc::tsc
    ${depfile_args}
    COMMENT "Generating C from ${model_name} with tsc"
    VERBATIM)

  add_library(${target} STATIC ${outputs})
  target_compile_features(${target} PRIVATE c_std_11)
  target_include_directories(${target} PUBLIC "${out_dir}")
  target_link_libraries(${target} PUBLIC tsc::runtime)
endfunction()

# Script mode, run by the custom command above after tsc succeeded.
if(CMAKE_SCRIPT_MODE_FILE AND DEFINED TSC_ADD_MODEL_OUTPUTS)
  foreach(output IN LISTS TSC_ADD_MODEL_OUTPUTS)
    if(NOT EXISTS "${output}")
      get_filename_component(missing "${output}" NAME_WE)
      # The model blocks the file does have, to name in the message.
      file(STRINGS "${TSC_ADD_MODEL_PATH}" declarations REGEX "^[ \t]*model[ \t]+[A-Za-z_][A-Za-z0-9_]*")
      set(names "")
      foreach(declaration IN LISTS declarations)
        string(REGEX REPLACE "^[ \t]*model[ \t]+([A-Za-z_][A-Za-z0-9_]*).*" "\\1" name "${declaration}")
        list(APPEND names "${name}")
      endforeach()
      list(JOIN names ", " names)
      message(FATAL_ERROR
        "tsc_add_model(${TSC_ADD_MODEL_TARGET}): ${TSC_ADD_MODEL_FILE} has no model named '${missing}' "
        "(tsc names the files after the model blocks, not after the file); the file's models are: ${names}. "
        "List the ones to build with MODELS")
    endif()
  endforeach()
endif()
