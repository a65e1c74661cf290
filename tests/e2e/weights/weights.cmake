# Inference builds (tsc --inference) and compiled-in weights (tsc --weights),
# included by e2e.cmake. The builds of one model under different options
# define the same symbols, so each lives in its own executable.

# --- Compiled weights: a normally built LeNet-5 (e2e_example_lenet5) trains
# a little and saves its weights and outputs; the same lenet5.tdl compiled
# with those weights must compute the same outputs bit for bit.
set(weights_dir ${CMAKE_CURRENT_BINARY_DIR}/weights)
set(weights_file ${weights_dir}/lenet5.safetensors)
set(reference_outputs ${weights_dir}/lenet5_outputs.f32)
set(lenet5_model ${PROJECT_SOURCE_DIR}/examples/models/lenet5.tdl)

add_executable(e2e_weights_writer ${CMAKE_CURRENT_SOURCE_DIR}/weights/write_weights.c)
target_compile_options(e2e_weights_writer PRIVATE ${TSC_WARNINGS})
target_include_directories(e2e_weights_writer PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(e2e_weights_writer PRIVATE e2e_example_lenet5)

add_custom_command(OUTPUT ${weights_file} ${reference_outputs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${weights_dir}
  COMMAND e2e_weights_writer ${weights_file} ${reference_outputs}
  DEPENDS e2e_weights_writer
  COMMENT "Training LeNet-5 briefly and saving its weights"
  VERBATIM)
# One target owns the rule that writes the weights: everything that reads them
# depends on this target. Were the rule only reached through the DEPENDS of
# two targets' commands, a parallel Makefile build would run it in both at
# once, and one would read a file the other is still writing.
add_custom_target(e2e_weights_reference DEPENDS ${weights_file} ${reference_outputs})

set(compiled_dir ${weights_dir}/compiled)
add_custom_command(OUTPUT ${compiled_dir}/lenet5.c ${compiled_dir}/lenet5.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${compiled_dir}
  COMMAND tsc::tsc --weights ${weights_file} -o ${compiled_dir} ${lenet5_model}
  DEPENDS ${weights_file} ${lenet5_model} tsc::tsc
  COMMENT "Compiling lenet5.tdl with its weights"
  VERBATIM)
add_library(e2e_weights_lenet5 STATIC ${compiled_dir}/lenet5.c)
target_include_directories(e2e_weights_lenet5 PUBLIC ${compiled_dir})
target_link_libraries(e2e_weights_lenet5 PUBLIC tsc::runtime)
target_compile_options(e2e_weights_lenet5 PRIVATE ${TSC_GENERATED_C_FLAGS})
add_dependencies(e2e_weights_lenet5 e2e_weights_reference)

add_cmocka_test(e2e_test_compiled_weights SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/weights/test_compiled_weights.c
  LIBS e2e_weights_lenet5 tsccore LABELS e2e)
target_include_directories(e2e_test_compiled_weights PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(e2e_test_compiled_weights PRIVATE
  REFERENCE_OUTPUTS="${reference_outputs}" WEIGHTS_FILE="${weights_file}" MODEL_PATH="${lenet5_model}"
  GENERATED_HEADER="${compiled_dir}/lenet5.h")
target_link_options(e2e_test_compiled_weights PRIVATE
  -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc -Wl,--wrap=posix_memalign)
add_dependencies(e2e_test_compiled_weights e2e_weights_reference)

# --- Inference builds of every example model: NAME_arena_size and --summary
# --inference agree (test_arena.c compiled with TSC_ARENA_INFERENCE).
set(inference_libs "")
foreach(model ${TSC_EXAMPLE_MODELS} ${PROJECT_SOURCE_DIR}/examples/fashion_mnist/fashion_cnn.tdl
        ${CMAKE_CURRENT_SOURCE_DIR}/golden/tiny.tdl ${CMAKE_CURRENT_SOURCE_DIR}/models/fx_batch_norm.tdl)
  get_filename_component(name ${model} NAME_WE)
  tsc_add_model(e2e_inference_${name} ${model} MODELS ${name} OPTIONS --inference)
  target_compile_options(e2e_inference_${name} PRIVATE ${TSC_GENERATED_C_FLAGS})
  list(APPEND inference_libs e2e_inference_${name})
endforeach()
add_cmocka_test(e2e_test_arena_inference SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_arena.c
  LIBS ${inference_libs} e2e_model_huge_arena tsccore LABELS e2e)
target_compile_definitions(e2e_test_arena_inference PRIVATE TSC_ARENA_INFERENCE=1)
