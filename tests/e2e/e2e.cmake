# End-to-end checks that are not cmocka executables. Included by
# tests/e2e/CMakeLists.txt after the model libraries and the test
# executables exist. Every test here carries the label e2e.

# --- No allocation: route the allocator of the statically linked code through
# the counting wrappers of test_no_alloc.c.
if(TARGET e2e_test_no_alloc)
  target_link_options(e2e_test_no_alloc PRIVATE
    -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=free
    -Wl,--wrap=aligned_alloc -Wl,--wrap=posix_memalign)
endif()

# --- Determinism: tsc run twice on the same model writes identical files.
foreach(model ${TSC_E2E_MODELS})
  get_filename_component(name ${model} NAME_WE)
  add_test(NAME e2e_deterministic_${name}
    COMMAND ${CMAKE_COMMAND} -DTSC=$<TARGET_FILE:tsc> -DMODEL=${model} -DNAME=${name}
            -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/deterministic/${name}
            -P ${CMAKE_CURRENT_SOURCE_DIR}/check_deterministic.cmake)
  set_tests_properties(e2e_deterministic_${name} PROPERTIES LABELS e2e)
endforeach()

# --- Golden: the generated C of one small model, committed under golden/.
# tests/e2e/golden/update.sh regenerates it after an intended change.
add_test(NAME e2e_golden_tiny
  COMMAND ${CMAKE_COMMAND} -DTSC=$<TARGET_FILE:tsc> -DGOLDEN_DIR=${CMAKE_CURRENT_SOURCE_DIR}/golden -DNAME=tiny
          -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/golden
          -P ${CMAKE_CURRENT_SOURCE_DIR}/check_golden.cmake)
set_tests_properties(e2e_golden_tiny PROPERTIES LABELS e2e)

# --- The generated code of the example models compiles with the strict flags
# (a library per model, linked into nothing; fashion_cnn is built by the
# example itself), and so does the golden model's. A failure fails the build.
file(GLOB TSC_EXAMPLE_MODELS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/models/*.tdl)
foreach(model ${TSC_EXAMPLE_MODELS})
  get_filename_component(name ${model} NAME_WE)
  tsc_add_model(e2e_example_${name} ${model} MODELS ${name})
  target_compile_options(e2e_example_${name} PRIVATE ${TSC_GENERATED_C_FLAGS})
endforeach()
tsc_add_model(e2e_golden_model_tiny ${CMAKE_CURRENT_SOURCE_DIR}/golden/tiny.tdl MODELS tiny)
target_compile_options(e2e_golden_model_tiny PRIVATE ${TSC_GENERATED_C_FLAGS})

# --- The generated code also compiles as C++17 (the header promises extern "C"
# and the source uses static_assert under __cplusplus): each generated .c is
# copied to a .cpp and built into an OBJECT library.
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  set(cxx_models "")
  foreach(model ${TSC_E2E_MODELS})
    get_filename_component(name ${model} NAME_WE)
    list(APPEND cxx_models "e2e_model_${name}:${name}")
  endforeach()
  foreach(model ${TSC_EXAMPLE_MODELS})
    get_filename_component(name ${model} NAME_WE)
    list(APPEND cxx_models "e2e_example_${name}:${name}")
  endforeach()
  list(APPEND cxx_models "e2e_golden_model_tiny:tiny")
  foreach(entry ${cxx_models})
    string(REPLACE ":" ";" parts "${entry}")
    list(GET parts 0 c_target)
    list(GET parts 1 name)
    set(generated_dir ${CMAKE_CURRENT_BINARY_DIR}/tsc/${c_target})
    set(cpp ${CMAKE_CURRENT_BINARY_DIR}/cxx/${c_target}/${name}.cpp)
    add_custom_command(OUTPUT ${cpp}
      COMMAND ${CMAKE_COMMAND} -E copy ${generated_dir}/${name}.c ${cpp}
      DEPENDS ${generated_dir}/${name}.c
      COMMENT "C++ copy of ${name}.c"
      VERBATIM)
    add_library(${c_target}_cxx OBJECT ${cpp})
    add_dependencies(${c_target}_cxx ${c_target})
    set_target_properties(${c_target}_cxx PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    target_include_directories(${c_target}_cxx PRIVATE ${generated_dir})
    target_link_libraries(${c_target}_cxx PRIVATE tsc::runtime)
    target_compile_options(${c_target}_cxx PRIVATE -Wall -Wextra -Werror)
  endforeach()
else()
  message(STATUS "tests/e2e: no C++ compiler, the C++17 check of the generated code is skipped")
endif()

# --- The arena: --summary (the compiler) and NAME_arena_size (the generated
# code) agree for every example model. test_arena links both.
tsc_add_model(e2e_example_fashion_cnn ${PROJECT_SOURCE_DIR}/examples/fashion_mnist/fashion_cnn.tdl MODELS fashion_cnn)
target_compile_options(e2e_example_fashion_cnn PRIVATE ${TSC_GENERATED_C_FLAGS})
if(TARGET e2e_test_arena)
  foreach(model ${TSC_EXAMPLE_MODELS})
    get_filename_component(name ${model} NAME_WE)
    target_link_libraries(e2e_test_arena PRIVATE e2e_example_${name})
  endforeach()
  target_link_libraries(e2e_test_arena PRIVATE e2e_example_fashion_cnn e2e_golden_model_tiny tsccore)
  target_compile_definitions(e2e_test_arena PRIVATE TSC_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()

# --- Inference builds and compiled-in weights (their own executables).
include(${CMAKE_CURRENT_SOURCE_DIR}/weights/weights.cmake)
include(${CMAKE_CURRENT_SOURCE_DIR}/spatial/spatial.cmake)
include(${CMAKE_CURRENT_SOURCE_DIR}/arch/arch.cmake)

# --- Hostile names: models, inputs, outputs, losses and layers named after
# what C, C++, libc and the generated code itself use, and layer names that
# try to end a comment or a string. The generated code compiles as C11 and
# as C++17 with the strict flags.
add_test(NAME e2e_hostile_names
  COMMAND ${CMAKE_COMMAND} -DTSC=$<TARGET_FILE:tsc> -DMODEL=${CMAKE_CURRENT_SOURCE_DIR}/hostile/hostile_names.tdl
          -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/hostile -DCC=${CMAKE_C_COMPILER} -DCXX=${CMAKE_CXX_COMPILER}
          -DRUNTIME_INCLUDE=${PROJECT_SOURCE_DIR}/runtime/include
          -P ${CMAKE_CURRENT_SOURCE_DIR}/check_hostile.cmake)
set_tests_properties(e2e_hostile_names PROPERTIES LABELS e2e)
