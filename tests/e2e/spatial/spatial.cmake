# fx_spatial (conv2d_transpose, upsample2d, zero_padding2d, cropping2d) as an
# inference build with its PyTorch fixture's initial weights compiled in:
# forward must give the fixture's logits, with the forward-only scratch that
# such a build sizes. Included by e2e.cmake.
set(spatial_dir ${CMAKE_CURRENT_BINARY_DIR}/spatial)
set(spatial_fixture ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/fx_spatial.safetensors)
set(spatial_model ${CMAKE_CURRENT_SOURCE_DIR}/models/fx_spatial.tdl)
add_custom_command(OUTPUT ${spatial_dir}/fx_spatial.c ${spatial_dir}/fx_spatial.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${spatial_dir}
  COMMAND tsc::tsc --weights ${spatial_fixture} -o ${spatial_dir} ${spatial_model}
  DEPENDS ${spatial_fixture} ${spatial_model} tsc::tsc
  COMMENT "Compiling fx_spatial.tdl with its fixture's weights"
  VERBATIM)
add_library(e2e_weights_fx_spatial STATIC ${spatial_dir}/fx_spatial.c)
target_include_directories(e2e_weights_fx_spatial PUBLIC ${spatial_dir})
target_link_libraries(e2e_weights_fx_spatial PUBLIC tsc::runtime)
target_compile_options(e2e_weights_fx_spatial PRIVATE ${TSC_GENERATED_C_FLAGS})
add_cmocka_test(e2e_test_spatial_inference SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/spatial/test_spatial_inference.c
  LIBS e2e_weights_fx_spatial LABELS e2e)
target_compile_definitions(e2e_test_spatial_inference PRIVATE FIXTURE="${spatial_fixture}")
