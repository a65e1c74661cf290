# The example architectures of examples/models (resnet_small, mobilenet_small,
# unet_small) against PyTorch, and trained from the generated C. Included by
# e2e.cmake, after the example models' libraries (e2e_example_<name>) exist.
#
# test_architectures compares each model with every optimizer tsc has against
# tests/e2e/fixtures/arch_<model>_<optimizer>.safetensors. The variants are
# written here at configure time from the one example file, so that
# examples/models stays their single source: the model block is renamed
# <model>_<optimizer> and the optimizer line replaced by the one that
# make_arch_fixtures.py computed the fixture with (arch_variants.cmake).
include(${CMAKE_CURRENT_SOURCE_DIR}/fixtures/arch_variants.cmake)
set(arch_variant_dir ${CMAKE_CURRENT_BINARY_DIR}/arch/models)
set(arch_variant_libs "")
foreach(model ${TSC_ARCH_MODELS})
  set(example ${PROJECT_SOURCE_DIR}/examples/models/${model}.tdl)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${example})
  file(READ ${example} text)
  # Exactly one model block and one optimizer line, or the variants would not
  # be the example with another optimizer.
  string(REGEX MATCHALL "\nmodel ${model} {" blocks "${text}")
  string(REGEX MATCHALL "\n *optimizer [^;]*" optimizers "${text}")  # without the ";", a list separator
  list(LENGTH blocks block_count)
  list(LENGTH optimizers optimizer_count)
  if(NOT block_count EQUAL 1 OR NOT optimizer_count EQUAL 1)
    message(FATAL_ERROR "${example}: expected one 'model ${model} {' line and one optimizer line, "
                        "found ${block_count} and ${optimizer_count}")
  endif()
  foreach(optimizer ${TSC_ARCH_OPTIMIZERS})
    set(variant ${model}_${optimizer})
    string(REPLACE "\nmodel ${model} {" "\nmodel ${variant} {" variant_text "${text}")
    string(REGEX REPLACE "\n( *)optimizer [^;]*;" "\n\\1optimizer ${TSC_ARCH_OPTIMIZER_${optimizer}};"
           variant_text "${variant_text}")
    # Written only when it changes, so that an unchanged variant is not rebuilt.
    file(CONFIGURE OUTPUT ${arch_variant_dir}/${variant}.tdl CONTENT "${variant_text}" @ONLY)
    tsc_add_model(e2e_arch_${variant} ${arch_variant_dir}/${variant}.tdl MODELS ${variant})
    target_compile_options(e2e_arch_${variant} PRIVATE ${TSC_GENERATED_C_FLAGS})
    list(APPEND arch_variant_libs e2e_arch_${variant})
  endforeach()
endforeach()

add_cmocka_test(e2e_test_architectures SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/arch/test_architectures.c
  ${CMAKE_CURRENT_SOURCE_DIR}/fixture_check.c LIBS ${arch_variant_libs} LABELS e2e)
target_include_directories(e2e_test_architectures PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(e2e_test_architectures PRIVATE TSC_FIXTURE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/fixtures"
                           TSC_EXECUTABLE="$<TARGET_FILE:tsc>")

# Each example model, with its own optimizer, learns a small synthetic task.
set(arch_example_libs "")
foreach(model ${TSC_ARCH_MODELS})
  list(APPEND arch_example_libs e2e_example_${model})
endforeach()
add_cmocka_test(e2e_test_architecture_training SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/arch/test_architecture_training.c
  LIBS ${arch_example_libs} LABELS e2e)
# As for the other e2e tests (CMakeLists.txt): GCC 12 at -O3 reports a false
# overflow once a call with the generated array parameters is inlined.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  target_compile_options(e2e_test_architectures PRIVATE -Wno-stringop-overflow)
  target_compile_options(e2e_test_architecture_training PRIVATE -Wno-stringop-overflow)
endif()
