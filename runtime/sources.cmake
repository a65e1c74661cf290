# The one place that chooses libtdlrt's sources (read by runtime/CMakeLists.txt
# and by the cross-compiling tests in tests/portable, which include it in
# script mode).
#
# Every file in src/ serves both builds except TDLRT_HOSTED_SOURCES, which
# need more than C11 and libm. The portable build (-DTDLRT_PORTABLE=ON) has
# its own file, in src/portable/, for each of them:
#   blas.c          OpenBLAS sgemm           -> portable/gemm.c         blocked sgemm in plain C
#   team.c          pthreads thread team     -> portable/team.c         every share on the caller
#   conv_gemm.c     im2col scratch + sgemm   -> portable/conv_direct.c  direct convolution, no scratch
#   conv_narrow.c   few-channel convolutions of conv_gemm.c (none: conv_direct.c covers them)
#   conv_lanes_filter.c  conv_narrow.c's first-layer weight gradient (none, as conv_narrow.c)
#   conv_lanes.c    first-layer forward of conv_gemm.c (none: conv_direct.c covers it)
#   conv_lanes_pool.c  first layer + 2x2 max pool -> portable/conv_lanes_pool.c  declines every call
#   model_hosted.c  heap arena, weight files -> portable/model_hosted.c create_in only; create/load/save
#                                                                        report TDL_STATUS_UNSUPPORTED
#   safetensors.c   cJSON                    -> portable/safetensors.c  TDL_STATUS_UNSUPPORTED
#   state.c         heap, training-state files -> portable/state.c     save_state/load_state report
#                                                                        TDL_STATUS_UNSUPPORTED
#   error_message.c thread-local storage     -> portable/error_message.c one buffer
# (conv_xsmm.c, conv_xsmm_few.c and conv_winograd.c are common: without
# TDL_HAVE_LIBXSMM they compile their fallbacks, which decline every call.)
set(TDLRT_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/src)
set(TDLRT_HOSTED_NAMES blas.c team.c conv_gemm.c conv_narrow.c conv_lanes_filter.c conv_lanes.c conv_lanes_pool.c model_hosted.c safetensors.c state.c error_message.c)
set(TDLRT_PORTABLE_NAMES gemm.c team.c conv_direct.c conv_lanes_pool.c model_hosted.c safetensors.c state.c error_message.c)

file(GLOB TDLRT_COMMON_SOURCES CONFIGURE_DEPENDS ${TDLRT_SOURCE_DIR}/*.c)
set(TDLRT_HOSTED_SOURCES "")
foreach(name IN LISTS TDLRT_HOSTED_NAMES)
  list(REMOVE_ITEM TDLRT_COMMON_SOURCES ${TDLRT_SOURCE_DIR}/${name})
  list(APPEND TDLRT_HOSTED_SOURCES ${TDLRT_SOURCE_DIR}/${name})
endforeach()
set(TDLRT_PORTABLE_ONLY_SOURCES "")
foreach(name IN LISTS TDLRT_PORTABLE_NAMES)
  list(APPEND TDLRT_PORTABLE_ONLY_SOURCES ${TDLRT_SOURCE_DIR}/portable/${name})
endforeach()

set(TDLRT_OPTIMISED_SOURCES ${TDLRT_COMMON_SOURCES} ${TDLRT_HOSTED_SOURCES})
set(TDLRT_PORTABLE_SOURCES ${TDLRT_COMMON_SOURCES} ${TDLRT_PORTABLE_ONLY_SOURCES})
