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
  # tests/isa runs the same executable again on emulated CPUs; a test that
  # writes files (fixed names under the build tree) must not run beside
  # another run of itself, so every run of one executable takes its lock.
  set_tests_properties(${name} PROPERTIES RESOURCE_LOCK ${name})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# tsc_add_models_to_both(<prefix> <optimised_exe> <portable_exe> <model.tdl>…)
# The same program on both runtimes: each model's generated C goes into a
# library <prefix>_<name> that <optimised_exe> links (with tdlrt), and
# straight into <portable_exe>, which links tdlrt_portable alone.
function(tsc_add_models_to_both prefix optimised_exe portable_exe)
  foreach(model IN LISTS ARGN)
    get_filename_component(name ${model} NAME_WE)
    tsc_add_model(${prefix}_${name} ${model} MODELS ${name})
    target_link_libraries(${optimised_exe} PRIVATE ${prefix}_${name})
    set(generated_dir ${CMAKE_CURRENT_BINARY_DIR}/tsc/${prefix}_${name})
    target_sources(${portable_exe} PRIVATE ${generated_dir}/${name}.c)
    target_include_directories(${portable_exe} PRIVATE ${generated_dir})
  endforeach()
  target_link_libraries(${portable_exe} PRIVATE tdlrt_portable)
  foreach(exe ${optimised_exe} ${portable_exe})
    target_compile_options(${exe} PRIVATE ${TSC_WARNINGS})
  endforeach()
endfunction()
