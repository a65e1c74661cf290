# Helpers shared by the project's own CMakeLists files.

# add_cmocka_test(<name> SOURCES <files…> [LIBS <targets…>] [LABELS <labels…>])
# One cmocka executable per unit, registered with ctest under its labels.
function(add_cmocka_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${TSC_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    TSC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TSC_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
